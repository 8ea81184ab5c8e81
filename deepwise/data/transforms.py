"""Data transforms: plain functions on whole batches of images, shape (N, C, H, W).

Each one takes a NumPy array or a Tensor and returns the same kind (a Tensor comes back
detached: transforms prepare data, they are not part of the model's graph). Random transforms
draw one decision per sample from ``generator`` (a NumPy Generator) or from deepwise's seeded
default generator, and apply all of them at once - no Python loop over samples.

    train_tf = Compose([
        lambda x: random_crop(x, 28, padding=2),
        random_horizontal_flip,
        lambda x: normalize(x, 0.2860, 0.3530),
    ])
    ds = FashionMNIST(train=True, transform=train_tf)   # applied batch by batch
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["normalize", "random_crop", "random_horizontal_flip", "Compose"]


def _unwrap(x: Any, where: str) -> tuple[np.ndarray, bool]:
    if isinstance(x, Tensor):
        return x.data, True
    if isinstance(x, np.ndarray):
        return x, False
    raise TypeError(f"{where}: expected a NumPy array or a Tensor, got {type(x).__name__}")


def _wrap(arr: np.ndarray, as_tensor: bool) -> Any:
    return Tensor._make(arr) if as_tensor else arr


def _generator(generator: np.random.Generator | None, where: str) -> np.random.Generator:
    gen = generator if generator is not None else backend.default_generator()
    if not isinstance(gen, np.random.Generator):
        raise TypeError(f"{where}: generator must be a numpy.random.Generator, got "
                        f"{type(gen).__name__}")
    return gen


def _check_batch(arr: np.ndarray, where: str) -> None:
    if arr.ndim != 4:
        raise ValueError(f"{where}: expected a batch of images of shape (N, C, H, W), got shape "
                         f"{arr.shape}; add the missing axes (x[None] for one image, x[:, None] "
                         "for (N, H, W))")


def _pair(value: int | Sequence[int], name: str, where: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 0 for v in pair):
        raise ValueError(f"{where}: {name} must be an int >= 0 or a pair (h, w), got {value!r}")
    return int(pair[0]), int(pair[1])


def normalize(x: Any, mean: float | Sequence[float], std: float | Sequence[float]) -> Any:
    """``(x - mean) / std`` per channel: x (N, C, H, W), mean/std scalars or length C.

    Integer input (uint8 pixels) is converted to the default float dtype first; float input
    keeps its dtype.

    >>> normalize(np.ones((2, 3, 4, 4), np.float32), [1, 0, 1], [1, 1, 2])[0, :, 0, 0]
    array([0., 1., 0.], dtype=float32)
    """
    arr, is_tensor = _unwrap(x, "normalize")
    dtype = arr.dtype if arr.dtype.kind == "f" else backend.get_default_dtype()
    stats = []
    for name, v in (("mean", mean), ("std", std)):
        v = np.asarray(v, dtype=dtype)
        if v.ndim > 1:
            raise ValueError(f"normalize: {name} must be a number or a 1-d sequence, got shape "
                             f"{v.shape}")
        if v.ndim == 1:
            if arr.ndim < 2 or arr.shape[1] != v.shape[0]:
                raise ValueError(f"normalize: {name} has {v.shape[0]} values but x of shape "
                                 f"{arr.shape} has {arr.shape[1] if arr.ndim > 1 else 'no'} "
                                 "channels (axis 1); expected one value per channel")
            v = v.reshape((1, -1) + (1,) * (arr.ndim - 2))
        stats.append(v)
    m, s = stats
    if np.any(s == 0):
        raise ValueError(f"normalize: std must be non-zero, got {std!r}")
    out = np.subtract(arr, m, dtype=dtype)
    out /= s
    return _wrap(out, is_tensor)


def random_crop(x: Any, size: int | Sequence[int], padding: int | Sequence[int] = 0,
                generator: np.random.Generator | None = None) -> Any:
    """A random ``size`` crop of each image, after zero-padding ``padding`` pixels per side.

    x (N, C, H, W) -> (N, C, size_h, size_w). Every sample gets its own offset; the crops are
    gathered in one fancy index over a sliding-window view of the padded batch.

    >>> random_crop(np.zeros((8, 1, 28, 28), np.float32), 28, padding=4).shape
    (8, 1, 28, 28)
    """
    arr, is_tensor = _unwrap(x, "random_crop")
    _check_batch(arr, "random_crop")
    th, tw = _pair(size, "size", "random_crop")
    ph, pw = _pair(padding, "padding", "random_crop")
    if ph or pw:  # zeros + one slice copy: 4x faster than np.pad on small batches
        n, c, h, w = arr.shape
        padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=arr.dtype)
        padded[:, :, ph:ph + h, pw:pw + w] = arr
        arr = padded
    n, _, hp, wp = arr.shape
    if th > hp or tw > wp or th == 0 or tw == 0:
        raise ValueError(f"random_crop: crop size ({th}, {tw}) does not fit images of "
                         f"{hp}x{wp} (after padding {ph}, {pw}); expected 1 <= size <= the "
                         "padded image size")
    gen = _generator(generator, "random_crop")
    i = gen.integers(0, hp - th + 1, size=n)
    j = gen.integers(0, wp - tw + 1, size=n)
    windows = np.lib.stride_tricks.sliding_window_view(arr, (th, tw), axis=(2, 3))
    # windows: (N, C, hp-th+1, wp-tw+1, th, tw); advanced indices on axes 0, 2, 3 around the
    # channel slice put the batch axis first: the result is (N, C, th, tw), a fresh copy.
    out = windows[np.arange(n), :, i, j]
    return _wrap(out, is_tensor)


def random_horizontal_flip(x: Any, p: float = 0.5,
                           generator: np.random.Generator | None = None) -> Any:
    """Mirror each image left-right with probability ``p``. x (N, C, H, W) -> same shape.

    >>> random_horizontal_flip(np.arange(4.0).reshape(1, 1, 1, 4), p=1.0)
    array([[[[3., 2., 1., 0.]]]])
    """
    arr, is_tensor = _unwrap(x, "random_horizontal_flip")
    _check_batch(arr, "random_horizontal_flip")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"random_horizontal_flip: p must be in [0, 1], got {p}")
    flip = _generator(generator, "random_horizontal_flip").random(arr.shape[0]) < p
    out = arr.copy()
    out[flip] = arr[flip, :, :, ::-1]
    return _wrap(out, is_tensor)


class Compose:
    """Chain transforms: ``Compose([f, g])(x) == g(f(x))``.

    >>> tf = Compose([lambda x: x * 2, lambda x: x + 1])
    >>> tf(np.ones(2))
    array([3., 3.])
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)
        for k, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"Compose: transform {k} is not callable "
                                f"({type(t).__name__})")

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {getattr(t, '__name__', repr(t))}," for t in self.transforms)
        return f"Compose([{inner}\n])"
