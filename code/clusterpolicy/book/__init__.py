"""The book itself: building it (:mod:`.build`), glue, table and figure helpers for the chapters
(:mod:`.report`), citation (:mod:`.citation`) and the Sphinx extension (:mod:`.sphinxext`)."""
