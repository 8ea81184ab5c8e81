"""The data pipeline: datasets, the DataLoader that batches them, transforms, real data sets.

>>> from deepwise.data import DataLoader, TensorDataset
>>> from deepwise.data.datasets import Digits
>>> loader = DataLoader(Digits(train=True), batch_size=64, shuffle=True)
>>> xb, yb = next(iter(loader))
>>> xb.shape, yb.dtype
((64, 1, 8, 8), dtype('int64'))
"""

from . import datasets, text, transforms
from . import audio
from .dataloader import DataLoader, default_collate
from .dataset import (
    ConcatDataset,
    Dataset,
    ImageClassificationDataset,
    Subset,
    TensorDataset,
    random_split,
    supports_batch_indexing,
)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
           "ImageClassificationDataset", "supports_batch_indexing", "DataLoader",
           "default_collate", "datasets", "text", "transforms"]
