"""The book's inputs: their rules (:mod:`.schemas`), reading them with one error report
(:mod:`.read`), estimation samples (:mod:`.samples`, :mod:`.innovators`) and the programme facts
(:mod:`.programme`)."""
