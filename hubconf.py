"""torch.hub entry points for the networks of "Deep Residual Learning for Image Recognition".

    torch.hub.list("<repository or local checkout>", source="local")
    model = torch.hub.load("<repository or local checkout>", "resnet20", source="local", pretrained=True)

pretrained=True returns the published weights (published/, see resnet_lib/training/hub.py) in eval mode, or a
clear error naming what is published; pretrained=False builds the net untrained (`cifar_net` builds any
depth 6n+2). Inputs follow the project's convention: resnet_lib.training.hub.preprocess("resnet20").
"""

import resnet_lib.training.hub as _hub

dependencies = ["torch"]
globals().update(_hub.entry_points())
