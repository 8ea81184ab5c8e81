"""torchvision.utils for deepwise: ``make_grid`` (a batch of images tiled into one) and
``save_image`` (that grid written as a PNG/JPEG file with pillow, atomically)."""

from __future__ import annotations

import math
import os
from typing import IO, Any

import numpy as np

from ..io import atomic_path
from ..tensor import Tensor

__all__ = ["make_grid", "save_image"]


def _batch(tensor: Any) -> np.ndarray:
    """(B, C, H, W) float array from a tensor/array (B, C, H, W), (C, H, W), (H, W) or a list."""
    if isinstance(tensor, (list, tuple)):
        tensor = np.stack([t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensor])
    arr = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 3:
        arr = arr[None] if arr.shape[0] in (1, 3) else arr[:, None]
    if arr.ndim != 4:
        raise ValueError(f"make_grid: expected images (B, C, H, W), (C, H, W) or (H, W), got "
                         f"shape {arr.shape}")
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 3, axis=1)
    return arr.astype(np.float32, copy=False) if arr.dtype.kind != "f" else arr


def _rescale(arr: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    low, high = value_range if value_range is not None else (float(arr.min()), float(arr.max()))
    return (np.clip(arr, low, high) - low) / max(high - low, 1e-5)


def make_grid(tensor: Any, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Tile a batch of images (B, C, H, W) into one image (3, rows * (H + p) + p, nrow * (W + p)
    + p), ``nrow`` per row, ``padding`` pixels of ``pad_value`` between them. ``normalize``
    shifts each image (``scale_each``) or the whole batch into [0, 1] (by ``value_range`` when
    given). One grey channel is repeated into three, as torchvision does.

    Shape: (B, C, H, W) -> (3 or C, H', W'); one image comes back without padding.
    """
    arr = _batch(tensor)
    if normalize:
        arr = np.stack([_rescale(a, value_range) for a in arr]) if scale_each else \
            _rescale(arr, value_range)
    b, c, h, w = arr.shape
    if b == 1:
        return Tensor._make(arr[0].copy())
    xmaps = min(int(nrow), b)
    ymaps = int(math.ceil(b / xmaps))
    hp, wp = h + padding, w + padding
    grid = np.full((c, ymaps * hp + padding, xmaps * wp + padding), pad_value, dtype=arr.dtype)
    for k in range(b):  # one slice copy per image (a loop over images, not pixels)
        y, x = divmod(k, xmaps)
        grid[:, y * hp + padding:y * hp + padding + h, x * wp + padding:x * wp + padding + w] = \
            arr[k]
    return Tensor._make(grid)


def save_image(tensor: Any, fp: str | os.PathLike | IO[bytes], format: str | None = None,  # noqa: A002
               **kwargs: Any) -> None:
    """Write ``make_grid(tensor, **kwargs)`` as an image file (values in [0, 1] -> 0..255).

    ``fp`` a path (written atomically; the format from its extension unless ``format``) or a
    binary file object. Needs pillow (``pip install pillow``).
    """
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("save_image needs pillow: pip install pillow") from e
    grid = make_grid(tensor, **kwargs).data
    img = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    pic = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
    if hasattr(fp, "write"):
        pic.save(fp, format=format or "PNG")
        return
    path = os.fspath(fp)
    fmt = format or Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise ValueError(f"save_image: cannot tell the image format of '{path}' from its "
                         "extension; pass format='PNG' (or use .png / .jpg)")
    with atomic_path(path) as tmp:
        pic.save(tmp, format=fmt)
