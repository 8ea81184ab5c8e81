"""``deepwise.vision``: torchvision's face - ``datasets`` (MNIST, FashionMNIST with torchvision's
signature, read from local files only), ``transforms`` (ToTensor, Normalize, Compose, Resize,
RandomCrop, RandomHorizontalFlip, Lambda) and ``utils`` (make_grid, save_image).

A torchvision script ports by its imports: ``from deepwise.vision import datasets, transforms``.
"""

from . import datasets, transforms, utils

__all__ = ["datasets", "transforms", "utils"]
