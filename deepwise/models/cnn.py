"""Convolutional image classifiers: SmallCNN (conv-BN-ReLU-pool blocks + an MLP head; ~92.5%
on Fashion-MNIST in a few epochs) and LeNet5 (LeCun et al., 1998, with ReLU and max pooling).

A convolution slides a small learned filter over the image, so the same feature detector is
applied at every position (few weights, translation equivariance); max pooling halves the
resolution and keeps the strongest response; batch normalisation keeps each channel's
activations centred and scaled, which lets Adam take large steps from the first epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import nn
from ..tensor import Tensor

__all__ = ["SmallCNN", "LeNet5"]


class SmallCNN(nn.Module):
    """[Conv 3x3 (pad 1) -> BatchNorm -> ReLU -> MaxPool 2] per entry of ``channels`` ->
    Flatten -> Dropout -> Linear(hidden) -> ReLU -> Dropout -> Linear(num_classes).

    With the defaults (channels (32, 64), hidden 128) on 28x28 images: 1x28x28 -> 32x14x14 ->
    64x7x7 -> 3136 -> 128 -> 10, 421,738 parameters. The convolutions have no bias (the batch
    norm that follows has one). Constructor arguments are the config keys that
    ``deepwise train cnn`` stores in its checkpoint, so ``models.build(config)`` rebuilds it.

    Shape: input (N, in_channels, image_size, image_size); output (N, num_classes) logits.

    >>> import deepwise
    >>> model = SmallCNN(in_channels=1, num_classes=10, image_size=28)
    >>> model(deepwise.zeros(2, 1, 28, 28)).shape
    (2, 10)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 dropout: float = 0.25, channels: Sequence[int] = (32, 64),
                 hidden: int = 128) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        side = int(image_size) // 2 ** len(channels)
        if side < 1 or not channels:
            raise ValueError(f"SmallCNN: {len(channels)} conv blocks halve the image "
                             f"{len(channels)} times; image_size {image_size} is too small "
                             f"(needs >= {2 ** len(channels)}, and channels must not be empty)")
        self.config = {"in_channels": int(in_channels), "num_classes": int(num_classes),
                       "image_size": int(image_size), "dropout": float(dropout),
                       "channels": channels, "hidden": int(hidden)}
        layers: list[nn.Module] = []
        width = int(in_channels)
        for c in channels:
            layers += [nn.Conv2d(width, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(), nn.MaxPool2d(2)]
            width = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * side * side, int(hidden)),
            nn.ReLU(), nn.Dropout(dropout), nn.Linear(int(hidden), int(num_classes)))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) as usually run on 28x28 images today: Conv 5x5 (6, pad 2)
    -> ReLU -> MaxPool 2 -> Conv 5x5 (16) -> ReLU -> MaxPool 2 -> Linear 120 -> ReLU ->
    Linear 84 -> ReLU -> Linear(num_classes). (The original used 32x32 inputs without the
    padding, tanh-like squashing and average pooling.)

    On 28x28: 1x28x28 -> 6x14x14 -> 16x5x5 -> 400 -> 120 -> 84 -> 10 (61,706 parameters).

    Shape: input (N, in_channels, image_size, image_size); output (N, num_classes) logits.

    >>> import deepwise
    >>> LeNet5()(deepwise.zeros(2, 1, 28, 28)).shape
    (2, 10)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        side = (int(image_size) // 2 - 4) // 2  # conv pad 2 keeps it, pool, conv 5, pool
        if side < 1:
            raise ValueError(f"LeNet5: image_size {image_size} is too small (needs >= 12: two "
                             "2x2 poolings and a 5x5 convolution without padding)")
        self.config = {"in_channels": int(in_channels), "num_classes": int(num_classes),
                       "image_size": int(image_size)}
        self.features = nn.Sequential(
            nn.Conv2d(int(in_channels), 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * side * side, 120), nn.ReLU(), nn.Linear(120, 84),
            nn.ReLU(), nn.Linear(84, int(num_classes)))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
