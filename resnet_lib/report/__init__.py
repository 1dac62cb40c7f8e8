"""The report the notebooks show: what each page asks for (pages.py), how runs are shown (views.py), tables
beside the paper's (tables.py) and of our runs against each other (comparisons.py), the paper's claims said of
our runs (claims.py), figures (plots.py), the status page (status.py), and all the notebooks call (notebook.py)."""
