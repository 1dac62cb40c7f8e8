"""The networks: the paper's CIFAR and ImageNet plain and residual nets (resnet.py), and their accounting:
parameters, multiply-adds, layers, layer responses (analysis.py)."""
