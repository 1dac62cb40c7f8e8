"""The data: data sets in memory and their readers (datasets.py), where each is found by name or path
(sources.py), the paper's pre-processing and the batches a run sees (pipeline.py), ImageNet-style trees
streamed from disk (imagenet.py)."""
