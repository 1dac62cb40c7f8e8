"""Launching runs: the executors that train lists of runs here (launch.py) or on Slurm (cluster.py), and
the campaign that trains a plan of them (campaign.py)."""
