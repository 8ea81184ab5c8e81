"""Face networks: FaceCNN (identification: who of the known people is this?) and FaceEmbedder
(verification: are these two photos the same person, even one never seen in training?).

Both share one convolutional trunk: blocks of [Conv 3x3 -> BatchNorm -> ReLU] x ``depth`` ->
MaxPool 2, then *global average pooling* (each channel's mean over the whole map). Pooling
away the positions makes the features insensitive to where in the frame the face sits and
needs no large dense layer (few weights: good for a database of 10 photos per person).

* FaceCNN: trunk -> Dropout -> Linear(num_classes): logits over the known people.
* FaceEmbedder: trunk -> Dropout -> Linear(embedding_dim) -> L2 normalisation: a point on
  the unit sphere; two photos are compared by the cosine of their points (trained with a
  metric loss: ``nn.ArcFaceLoss`` or ``F.batch_hard_triplet_loss``). Its trunk may pool to a
  coarse grid instead (``pool=(3, 2)``: eyes, nose and mouth regions stay apart), which
  measured better for people never seen in training than one global average.
  ``features(x)`` is that pooled trunk, before the projection: the representation
  ``apps.faces`` compares unseen people with. The projection and its loss are a training head
  that specialises to the training people (as the projection head of SimCLR, Chen et al.
  2020): on people held out of the 24 training ones, the pooled trunk's cosine separated
  same-person from different-person pairs better (ROC AUC 0.989 against 0.945, mean of 4
  validation folds; BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import nn
from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["FaceCNN", "FaceEmbedder"]


class _Trunk(nn.Module):
    """[Conv 3x3 (pad 1, no bias) -> BatchNorm -> ReLU] x depth -> MaxPool 2 per channel count,
    then the mean over the spatial axes: (N, C_in, H, W) -> (N, channels[-1])."""

    def __init__(self, in_channels: int, channels: Sequence[int], depth: int,
                 pool: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = int(in_channels)
        for c in channels:
            for _ in range(int(depth)):
                layers += [nn.Conv2d(width, int(c), 3, padding=1, bias=False),
                           nn.BatchNorm2d(int(c)), nn.ReLU()]
                width = int(c)
            layers.append(nn.MaxPool2d(2))
        self.blocks = nn.Sequential(*layers)
        self.pool = None if tuple(pool) == (1, 1) else nn.AdaptiveAvgPool2d(tuple(pool))
        self.width = width * pool[0] * pool[1]

    def forward(self, x: Tensor) -> Tensor:
        if self.pool is None:
            return self.blocks(x).mean(dim=(2, 3))  # global average pooling
        return self.pool(self.blocks(x)).flatten(1)  # a coarse grid of regions, kept apart


def _check(name: str, channels: Sequence[int], depth: int) -> list[int]:
    channels = [int(c) for c in channels]
    if not channels or min(channels) < 1 or int(depth) < 1:
        raise ValueError(f"{name}: channels must be a non-empty list of positive widths and "
                         f"depth >= 1, got channels={channels}, depth={depth}")
    return channels


class FaceCNN(nn.Module):
    """A face identifier: the conv trunk (``channels`` blocks of ``depth`` conv-BN-ReLU layers
    and a 2x2 max pool each), global average pooling, dropout and one linear layer.

    With the defaults (the ``deepwise train faces`` recipe) on 56x46 photos (the ORL faces at
    half size): 1x56x46 -> 32x28x23 -> 64x14x11 -> 128x7x5 -> 256x3x2 -> 256 -> num_classes;
    396,544 parameters for 32 people. Any input of at least 2^len(channels) pixels a side
    works (the pooling is global).

    Shape: input (N, in_channels, H, W); output (N, num_classes) logits; ``features(x)`` is
    the pooled (N, channels[-1]).

    >>> import deepwise
    >>> FaceCNN(num_classes=32)(deepwise.zeros(2, 1, 56, 46)).shape
    (2, 32)
    """

    def __init__(self, num_classes: int = 32, in_channels: int = 1,
                 channels: Sequence[int] = (32, 64, 128, 256), depth: int = 1,
                 dropout: float = 0.3) -> None:
        super().__init__()
        channels = _check("FaceCNN", channels, depth)
        self.config = {"num_classes": int(num_classes), "in_channels": int(in_channels),
                       "channels": channels, "depth": int(depth), "dropout": float(dropout)}
        self.trunk = _Trunk(in_channels, channels, depth)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.trunk.width, int(num_classes))

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.trunk(x)))


class FaceEmbedder(nn.Module):
    """A face embedding for verification: the conv trunk of :class:`FaceCNN`, average pooling
    to a ``pool`` grid ((1, 1): global) flattened, dropout, a linear projection to
    ``embedding_dim`` and L2 normalisation, so ``a @ b`` of two outputs is their cosine
    similarity.

    ``features(x)`` is the pooled trunk before the projection, (N, channels[-1] * pool[0] *
    pool[1]) (not normalised): for people never seen in training it is the better
    representation (module docstring).

    Shape: input (N, in_channels, H, W) with H, W >= 2^len(channels) * pool; output
    (N, embedding_dim), each row of unit length.

    >>> import deepwise
    >>> e = FaceEmbedder(embedding_dim=64)(deepwise.zeros(2, 1, 56, 46))
    >>> e.shape
    (2, 64)
    """

    def __init__(self, embedding_dim: int = 64, in_channels: int = 1,
                 channels: Sequence[int] = (32, 64, 128, 256), depth: int = 1,
                 pool: Sequence[int] = (1, 1), dropout: float = 0.0) -> None:
        super().__init__()
        channels = _check("FaceEmbedder", channels, depth)
        pool = [int(p) for p in pool]
        self.config = {"embedding_dim": int(embedding_dim), "in_channels": int(in_channels),
                       "channels": channels, "depth": int(depth), "pool": pool,
                       "dropout": float(dropout)}
        self.trunk = _Trunk(in_channels, channels, depth, pool=tuple(pool))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.trunk.width, int(embedding_dim))

    def features(self, x: Tensor) -> Tensor:
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.fc(self.dropout(self.trunk(x))), dim=1)
