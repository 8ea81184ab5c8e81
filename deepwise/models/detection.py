"""CenterNet (Zhou, Wang & Kraehenbuehl, "Objects as Points", 2019): an object is the peak of a
heatmap; its box size and sub-pixel offset are read off two more maps at that peak.

The network: a small conv backbone down to stride 16, a neck that upsamples back to stride 4
adding the stride-8 and stride-4 features (a feature pyramid's top-down path) - and with
``stride=2`` one level further, adding the stem's stride-2 features, for small objects - and
three heads on that map - ``heatmap`` (one logit per class and cell: "an object's centre is
here"), ``size`` (box width and height, in output cells) and ``offset`` (where in its cell the
centre lies, the part lost to the stride). Training targets (``deepwise.apps.detection``): a
Gaussian bump per object on the heatmap (penalty-reduced focal loss,
``nn.functional.focal_heatmap_loss``), size and offset at the centre cells only (L1).

Decoding (:func:`decode`) needs no non-maximum suppression: a cell is a peak when it equals the
3x3 max-pool of the heatmap around it; the top ``k`` peaks above a score threshold are the
detections.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, nn
from ..autograd import ShapeError, no_grad
from ..nn import functional as F
from ..ops import sort
from ..tensor import Tensor

__all__ = ["CenterNet", "decode"]


def _block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU()]


class CenterNet(nn.Module):
    """A small CenterNet: backbone (stride 2, 4, 8, 16 with ``width``, 2, 4, 8 x ``width``
    channels), top-down neck to ``stride`` 4 (``2 width`` channels) or 2 (``width``
    channels), heads for heatmap (``num_classes``), size (2) and offset (2).

    Shape: input (N, in_channels, H, W), H and W multiples of 16; with ``s = stride``, output
    a dict of ``heatmap`` (N, num_classes, H/s, W/s) logits, ``size`` (N, 2, H/s, W/s) and
    ``offset`` (N, 2, H/s, W/s), both in output cells; :meth:`features` gives the neck's
    (N, feature_channels, H/s, W/s).

    >>> import deepwise
    >>> out = CenterNet(width=8)(deepwise.zeros(1, 3, 96, 128))
    >>> out["heatmap"].shape, out["size"].shape
    ((1, 1, 24, 32), (1, 2, 24, 32))
    >>> CenterNet(width=8, stride=2)(deepwise.zeros(1, 3, 96, 128))["heatmap"].shape
    (1, 1, 48, 64)
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1, width: int = 16,
                 head_channels: int = 32, stride: int = 4) -> None:
        super().__init__()
        w = int(width)
        if stride not in (2, 4):
            raise ValueError(f"CenterNet: stride must be 2 or 4, got {stride!r}")
        self.stride = int(stride)
        self.config = {"in_channels": int(in_channels), "num_classes": int(num_classes),
                       "width": w, "head_channels": int(head_channels)}
        if self.stride != 4:  # the key only where it differs: older checkpoints load as before
            self.config["stride"] = self.stride
        self.stem = nn.Sequential(*_block(in_channels, w, 2), *_block(w, 2 * w, 2),
                                  *_block(2 * w, 2 * w))          # stride 4 (stride 2 after [:3])
        self.down8 = nn.Sequential(*_block(2 * w, 4 * w, 2), *_block(4 * w, 4 * w))
        self.down16 = nn.Sequential(*_block(4 * w, 8 * w, 2), *_block(8 * w, 8 * w))
        self.up8 = nn.Sequential(*_block(8 * w, 4 * w))
        self.up4 = nn.Sequential(*_block(4 * w, 2 * w))
        self.fuse = nn.Sequential(*_block(2 * w, 2 * w))
        self.feature_channels = 2 * w
        if self.stride == 2:
            self.up2 = nn.Sequential(*_block(2 * w, w))
            self.fuse2 = nn.Sequential(*_block(w, w))
            self.feature_channels = w
        fc = self.feature_channels

        def head(cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(fc, head_channels, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(head_channels, cout, 1))
        self.heatmap = head(num_classes)
        self.size = head(2)
        self.offset = head(2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Heatmap bias -log((1 - 0.1) / 0.1) = -2.19 (CenterNet's prior: every cell starts
        at probability 0.1, so the focal loss of the many negatives does not swamp the first
        steps)."""
        self.heatmap[-1].bias.data[...] = -2.19

    def extra_repr(self) -> str:
        c = self.config
        return f"width={c['width']}, num_classes={c['num_classes']}, stride={self.stride}"

    def features(self, x: Tensor) -> Tensor:
        """The feature map the heads read (N, feature_channels, H/stride, W/stride)."""
        if x.ndim != 4 or x.shape[1] != self.config["in_channels"] or x.shape[2] % 16 or \
                x.shape[3] % 16:
            raise ShapeError(f"CenterNet: expected input (N, {self.config['in_channels']}, H, W) "
                             f"with H and W multiples of 16, got {tuple(x.shape)}")
        c4 = x
        for i, layer in enumerate(self.stem):
            c4 = layer(c4)
            if i == 2:
                c2 = c4                                           # the stem's stride-2 map
        c8 = self.down8(c4)
        c16 = self.down16(c8)
        p8 = self.up8(F.interpolate(c16, scale_factor=2)) + c8
        p4 = self.fuse(self.up4(F.interpolate(p8, scale_factor=2)) + c4)
        if self.stride == 4:
            return p4
        return self.fuse2(self.up2(F.interpolate(p4, scale_factor=2)) + c2)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        f = self.features(x)
        return {"heatmap": self.heatmap(f), "size": self.size(f), "offset": self.offset(f)}

    def detect(self, images: Any, k: int = 40, threshold: float = 0.3, batch_size: int = 32,
               flip: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image ``(boxes (K, 4) x1 y1 x2 y2 pixels, scores (K,))`` in eval mode, without
        gradient. ``images``: (N, C, H, W) floats in [0, 1]. ``flip``: CenterNet's flip test -
        the mirrored image's heatmap probabilities and sizes, mirrored back, averaged with the
        image's (the offsets are the image's own); twice the work."""
        images = np.ascontiguousarray(images, dtype=backend.get_default_dtype())
        self.eval()
        out: list[tuple[np.ndarray, np.ndarray]] = []
        with no_grad():
            for i in range(0, len(images), batch_size):
                x = images[i:i + batch_size]
                o = self(Tensor(x))
                heat, size = o["heatmap"], o["size"]
                if flip:
                    m = self(Tensor(np.ascontiguousarray(x[..., ::-1])))
                    p = (F.sigmoid(heat).data + F.sigmoid(m["heatmap"]).data[..., ::-1]) / 2
                    p = np.clip(p, 1e-6, 1 - 1e-6)
                    heat = Tensor(np.log(p / (1 - p)).astype(heat.dtype))
                    size = Tensor(((size.data + m["size"].data[..., ::-1]) / 2).astype(
                        size.dtype))
                out += decode(heat, size, o["offset"], k, threshold, self.stride)
        return out


def decode(heatmap: Tensor, size: Tensor, offset: Tensor, k: int = 40, threshold: float = 0.3,
           stride: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """Detections from the three maps: a cell is a peak where the heatmap's sigmoid equals its
    3x3 max-pool; the ``k`` best peaks (``topk``) above ``threshold`` give boxes centred at
    ``(cell + offset) * stride`` of size ``size * stride``. Per image ``(boxes (K, 4), scores
    (K,))``; class 0 of a multi-class heatmap is all that is read."""
    with no_grad():
        p = F.sigmoid(heatmap[:, :1])
        peaks = F.max_pool2d(p, 3, stride=1, padding=1)
        n, _, h, w = p.shape
        keep = (p.data == peaks.data)
        flat = Tensor(np.where(keep, p.data, 0).reshape(n, h * w))
        scores, idx = sort.topk(flat, min(int(k), h * w), dim=1)
    scores, idx = scores.data, idx.data
    ys, xs = idx // w, idx % w
    rows = np.arange(n)[:, None]
    sz, off = size.data, offset.data
    cx = (xs + off[rows, 0, ys, xs]) * stride
    cy = (ys + off[rows, 1, ys, xs]) * stride
    bw, bh = np.maximum(sz[rows, 0, ys, xs], 0) * stride, np.maximum(sz[rows, 1, ys, xs], 0) * \
        stride
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
    return [(boxes[i][scores[i] >= threshold].astype(np.float64),
             scores[i][scores[i] >= threshold].astype(np.float64)) for i in range(n)]
