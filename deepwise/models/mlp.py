"""A multi-layer perceptron classifier: layers of neurons with weights, biases and activations."""

from __future__ import annotations

from collections.abc import Sequence

from .. import nn
from ..tensor import Tensor


class MLP(nn.Module):
    """Flatten -> [Linear -> ReLU -> Dropout] per hidden layer -> Linear (class scores).

    Shape: input (N, *) with prod(*) == in_features (an image batch (N, 1, 28, 28) is flattened);
    output (N, num_classes) logits (feed them to ``cross_entropy``).

    >>> model = MLP(784, (256, 128), 10, dropout=0.2)
    >>> model(deepwise.zeros(2, 1, 28, 28)).shape
    (2, 10)
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (256, 128),
                 num_classes: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = {"in_features": int(in_features), "hidden": [int(h) for h in hidden],
                       "num_classes": int(num_classes), "dropout": float(dropout)}
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
