"""Sources. Each module turns one kind of input into ``Paper`` objects (or
``Skipped`` records naming what was wrong and where); ``pipeline`` stores them."""
