"""torchvision.transforms for deepwise: per-sample transforms on PIL images, uint8 arrays (H, W)
or (H, W, C), and tensors (C, H, W) - and, where the math allows, the same transform on a whole
batch at once (``t.batch``), which the vision data sets use to gather a DataLoader batch in one
call instead of a Python loop over samples.

``batch`` takes what ``__call__`` takes, stacked: uint8 (B, H, W) images before ``ToTensor``,
float (B, C, H, W) after it. A ``Compose`` has a batch form when each of its transforms has one
(``ToTensor``, ``Normalize``, ``RandomHorizontalFlip`` and ``RandomCrop`` after ``ToTensor``);
otherwise the data set falls back to one sample at a time, as torchvision does.

Random transforms draw from deepwise's seeded generator (``deepwise.manual_seed``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..data import transforms as _bt
from ..ops.interpolate import interpolate
from ..tensor import Tensor

__all__ = ["Compose", "ToTensor", "Normalize", "Resize", "RandomCrop", "RandomHorizontalFlip",
           "Lambda", "InterpolationMode"]


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:  # pillow is optional: arrays and tensors work without it
        return None
    return Image


def _is_pil(x: Any) -> bool:
    image = _pil()
    return image is not None and isinstance(x, image.Image)


def _array(x: Any, where: str) -> tuple[np.ndarray, bool]:
    """(array, was_tensor): a tensor's (C, H, W) data, or a uint8 (H, W[, C]) image."""
    if isinstance(x, Tensor):
        return x.data, True
    if _is_pil(x):
        return np.asarray(x), False
    if isinstance(x, np.ndarray):
        return x, False
    raise TypeError(f"{where}: expected a PIL image, a NumPy array or a Tensor, got "
                    f"{type(x).__name__}")


class InterpolationMode:
    """torchvision's names for resampling filters."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"


class Compose:
    """Chain transforms: ``Compose([f, g])(x) == g(f(x))``; ``batch`` when every one has it."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)
        for k, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"Compose: transform {k} is not callable ({type(t).__name__})")

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    @property
    def batch(self) -> Callable[[Any], Any] | None:
        # the batch forms take uint8 images (B, H, W[, C]) only through ToTensor, first
        ts = self.transforms
        if not ts or not isinstance(ts[0], ToTensor) or any(isinstance(t, ToTensor)
                                                             for t in ts[1:]):
            return None
        steps = [getattr(t, "batch", None) for t in ts]
        if any(s is None for s in steps):
            return None

        def run(x: Any) -> Any:
            for s in steps:
                x = s(x)
            return x
        return run

    def __repr__(self) -> str:
        return "Compose(\n" + "".join(f"    {t!r}\n" for t in self.transforms) + ")"


class ToTensor:
    """A PIL image or uint8 array (H, W[, C]) -> float32 Tensor (C, H, W) in [0, 1] (divided by
    255); float arrays are only transposed. ``batch``: uint8 (B, H, W[, C]) -> (B, C, H, W)."""

    def __call__(self, pic: Any) -> Tensor:
        arr, was_tensor = _array(pic, "ToTensor")
        if was_tensor:
            raise TypeError("ToTensor: the input is already a Tensor (ToTensor takes a PIL "
                            "image or a NumPy array (H, W[, C]))")
        if arr.ndim not in (2, 3):
            raise ValueError(f"ToTensor: expected an image (H, W) or (H, W, C), got shape "
                             f"{arr.shape}")
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        return Tensor._make(self._scale(arr.transpose(2, 0, 1)))

    @staticmethod
    def _scale(arr: np.ndarray) -> np.ndarray:
        if arr.dtype == np.uint8:
            return np.divide(arr, np.float32(255), dtype=np.float32)
        return np.ascontiguousarray(arr, dtype=backend.get_default_dtype()
                                    if arr.dtype.kind != "f" else arr.dtype)

    def batch(self, images: np.ndarray) -> np.ndarray:
        if images.ndim not in (3, 4):
            raise ValueError(f"ToTensor.batch: expected images (B, H, W[, C]), got shape "
                             f"{images.shape}")
        arr = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        return self._scale(arr)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean) / std`` per channel of a float Tensor (C, H, W); ``batch`` on (B, C, H, W)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor: Any) -> Any:
        arr, was_tensor = _array(tensor, "Normalize")
        if arr.ndim != 3:
            raise ValueError(f"Normalize: expected a tensor image (C, H, W), got shape "
                             f"{arr.shape}; apply ToTensor first")
        out = _bt.normalize(arr[None], self.mean, self.std)[0]
        return Tensor._make(out) if was_tensor else out

    def batch(self, x: np.ndarray) -> np.ndarray:
        return _bt.normalize(x, self.mean, self.std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


def _size(size: Any, where: str) -> tuple[int, int] | int:
    if isinstance(size, (int, np.integer)) and size > 0:
        return int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return _size(size[0], where)
    if isinstance(size, Sequence) and len(size) == 2 and all(
            isinstance(v, (int, np.integer)) and v > 0 for v in size):
        return int(size[0]), int(size[1])
    raise ValueError(f"{where}: size must be a positive int or a pair (h, w), got {size!r}")


class Resize:
    """Resize to ``size`` (h, w); an int resizes the shorter side to it, keeping the aspect.
    PIL images use PIL's filter; tensors (C, H, W) deepwise's ``interpolate`` (bilinear,
    align_corners=False, no antialias)."""

    def __init__(self, size: Any, interpolation: Any = InterpolationMode.BILINEAR,
                 max_size: int | None = None, antialias: bool | None = True) -> None:
        self.size = _size(size, "Resize")
        mode = getattr(interpolation, "value", interpolation)
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Resize: interpolation must be NEAREST or BILINEAR, got "
                             f"{interpolation!r}")
        self.interpolation = mode

    def _target(self, h: int, w: int) -> tuple[int, int]:
        if isinstance(self.size, tuple):
            return self.size
        s = self.size
        return (s, max(1, int(s * w / h))) if h <= w else (max(1, int(s * h / w)), s)

    def __call__(self, img: Any) -> Any:
        if _is_pil(img):
            w, h = img.size
            th, tw = self._target(h, w)
            image = _pil()
            flt = image.BILINEAR if self.interpolation == "bilinear" else image.NEAREST
            return img.resize((tw, th), flt)
        arr, was_tensor = _array(img, "Resize")
        if arr.ndim != 3:
            raise ValueError(f"Resize: expected a PIL image or a tensor (C, H, W), got shape "
                             f"{arr.shape}")
        out = self.batch(arr[None])[0]
        return Tensor._make(out) if was_tensor else out

    def batch(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.dtype.kind != "f":
            raise ValueError(f"Resize.batch: expected float images (B, C, H, W) (after "
                             f"ToTensor), got {x.dtype} {x.shape}")
        th, tw = self._target(x.shape[2], x.shape[3])
        kw = {"align_corners": False} if self.interpolation == "bilinear" else {}
        return interpolate(Tensor._make(x), size=(th, tw), mode=self.interpolation, **kw).data

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, interpolation={self.interpolation})"


class RandomCrop:
    """A random ``size`` crop, after zero-padding ``padding`` pixels per side (torchvision's
    ``padding`` as an int or (pad_w, pad_h); ``fill=0``, ``padding_mode='constant'`` only)."""

    def __init__(self, size: Any, padding: Any = None, pad_if_needed: bool = False,
                 fill: float = 0, padding_mode: str = "constant") -> None:
        size = _size(size, "RandomCrop")
        self.size = (size, size) if isinstance(size, int) else size
        if padding_mode != "constant" or fill != 0:
            raise ValueError(f"RandomCrop: only zero padding (fill=0, padding_mode='constant') "
                             f"is supported, got fill={fill!r}, padding_mode={padding_mode!r}")
        if padding is None:
            padding = 0
        if isinstance(padding, Sequence) and len(padding) == 2:
            padding = (padding[1], padding[0])  # torchvision: (left/right, top/bottom)
        elif isinstance(padding, Sequence):
            raise ValueError(f"RandomCrop: padding must be an int or a pair, got {padding!r}")
        self.padding = padding

    def __call__(self, img: Any) -> Any:
        pil = _is_pil(img)
        arr, was_tensor = _array(img, "RandomCrop")
        if not was_tensor:  # an image (H, W[, C]): crop it as a (1, C, H, W) batch
            chw = (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
            out = _bt.random_crop(chw[None], self.size, self.padding)[0]
            out = out[0] if arr.ndim == 2 else out.transpose(1, 2, 0)
            return _pil().fromarray(np.ascontiguousarray(out)) if pil else out
        return Tensor._make(_bt.random_crop(arr[None], self.size, self.padding)[0])

    def batch(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"RandomCrop.batch: expected (B, C, H, W) after ToTensor, got "
                             f"{x.shape}")
        return _bt.random_crop(x, self.size, self.padding)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p`` (PIL images, arrays (H, W[, C]), tensors)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, img: Any) -> Any:
        if backend.default_generator().random() >= self.p:
            return img
        if _is_pil(img):
            return img.transpose(_pil().FLIP_LEFT_RIGHT)
        arr, was_tensor = _array(img, "RandomHorizontalFlip")
        axis = -1 if was_tensor or arr.ndim == 2 else 1
        out = np.flip(arr, axis=axis).copy()
        return Tensor._make(out) if was_tensor else out

    def batch(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"RandomHorizontalFlip.batch: expected (B, C, H, W) after "
                             f"ToTensor, got {x.shape}")
        return _bt.random_horizontal_flip(x, self.p)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Lambda:
    """A user function as a transform (per sample; no batch form)."""

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Lambda: expected a callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"
