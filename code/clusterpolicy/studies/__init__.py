"""One module per chapter: each turns validated data into the typed results that its chapter
glues, tabulates and explains."""
