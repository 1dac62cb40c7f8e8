"""Training a run and using what it trained: settings by hardware (fastpath.py), provenance, the run built on a
device (runtime.py), how its processes stop (processes.py), evaluation, the loop (train.py), published weights
(hub.py) and the lesion study of trained nets (lesion.py)."""
