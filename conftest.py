"""Test-wide settings: notebooks under nbval show recorded runs only and never start training."""

import os

os.environ["RESNET_LIB_REPORT_ONLY"] = "1"
