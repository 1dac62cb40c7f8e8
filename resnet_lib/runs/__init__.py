"""Runs on disk: a run's folder, records and lock (results.py), its checkpoints (checkpoint.py), and the
commands that record runs, with the executors' registry (commands.py)."""
