"""``torch.utils.data`` under deepwise: ``from deepwise.utils.data import DataLoader, Dataset``.

The datasets are :mod:`deepwise.data`'s (``Dataset``, ``TensorDataset``, ``Subset``,
``ConcatDataset``, ``random_split``); this package adds what PyTorch scripts also reach for:
the samplers, ``IterableDataset``, and a :class:`DataLoader` that accepts PyTorch's whole
signature (``sampler``, ``batch_sampler``, ``num_workers``, ``pin_memory`` ...).
"""

from ...data.dataloader import default_collate
from ...data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from ...data.distributed import DistributedSampler
from .dataloader import DataLoader, IterableDataset, get_worker_info
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = ["DataLoader", "Dataset", "IterableDataset", "TensorDataset", "Subset",
           "ConcatDataset", "random_split", "default_collate", "get_worker_info", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler", "DistributedSampler"]
