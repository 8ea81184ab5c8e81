"""Reading images: the package's own PGM reader, and grey images of any format through Pillow.

PGM ("portable grey map", Netpbm) is the format of classic face databases (ORL/AT&T, Yale).
A file is a short text header and the pixels::

    P5            magic: P5 binary pixels, P2 pixels as decimal text
    # a comment   (anywhere in the header, to the end of the line)
    92 112        width height
    255           maxval: < 256 means 1 byte per pixel, up to 65535 means 2 (big-endian)
    <pixels>      after exactly one whitespace byte (P5), row by row, top to bottom

* :func:`read_pgm` / :func:`parse_pgm`: P5 and P2, 8- and 16-bit, to a uint8 or uint16
  (H, W) array; a malformed file raises :class:`ImageFormatError` naming the file and what is
  wrong (a bad magic number, a truncated header or pixel block, a pixel above maxval ...).
* :func:`read_grey`: any image as float32 (H, W) in [0, 1]: PGM by the reader above, other
  formats (PNG, JPEG, PPM ...) by Pillow; colour is converted to grey (ITU-R 601 luma, as
  Pillow's "L" mode), and an expected ``size`` is checked (or the image resized to it).

>>> img = parse_pgm(b"P2 3 1 15  0 7 15")
>>> img.tolist(), img.dtype.name
([[0, 7, 15]], 'uint8')
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["ImageFormatError", "parse_pgm", "read_pgm", "read_grey", "random_affine"]

_WHITESPACE = b" \t\n\r\v\f"


class ImageFormatError(ValueError):
    """An image file that cannot be read: the message names the file and what is wrong."""


def _header(data: bytes, where: str) -> tuple[bytes, list[int], int]:
    """(magic, [width, height, maxval], offset of the first pixel byte) of a Netpbm file."""
    fields: list[bytes] = []
    i, n = 0, len(data)
    while len(fields) < 4:
        while i < n and (data[i:i + 1] in _WHITESPACE or data[i:i + 1] == b"#"):
            if data[i:i + 1] == b"#":  # a comment runs to the end of the line
                while i < n and data[i:i + 1] not in b"\r\n":
                    i += 1
            else:
                i += 1
        start = i
        while i < n and data[i:i + 1] not in _WHITESPACE and data[i:i + 1] != b"#":
            i += 1
        if start == i:
            names = ["the magic number", "the width", "the height", "maxval"]
            raise ImageFormatError(f"{where}: truncated PGM header: {names[len(fields)]} is "
                                   f"missing (the file has {n} bytes)")
        fields.append(data[start:i])
        if len(fields) == 1 and fields[0] not in (b"P5", b"P2"):
            magic = fields[0][:8]
            kind = {b"P6": " (a colour PPM)", b"P3": " (a colour PPM)", b"P4": " (a bitmap)",
                    b"P1": " (a bitmap)"}.get(magic, "")
            raise ImageFormatError(f"{where}: not a PGM file: it starts with {magic!r}{kind}, "
                                   "expected the magic number P5 (binary) or P2 (text)")
    values = []
    for name, f in zip(("width", "height", "maxval"), fields[1:]):
        if not f.isdigit():
            raise ImageFormatError(f"{where}: bad PGM header: {name} is {f[:20]!r}, expected a "
                                   "positive integer")
        values.append(int(f))
    w, h, maxval = values
    if w < 1 or h < 1:
        raise ImageFormatError(f"{where}: bad PGM header: the image is {w}x{h}; width and "
                               "height must be >= 1")
    if not 1 <= maxval <= 65535:
        raise ImageFormatError(f"{where}: bad PGM header: maxval is {maxval}, expected 1..65535")
    if fields[0] == b"P5":
        if i >= n:
            raise ImageFormatError(f"{where}: truncated PGM file: no pixel data after the header")
        i += 1  # exactly one whitespace byte separates maxval from the pixels
    return fields[0], values, i


def parse_pgm(data: bytes, where: str = "<bytes>") -> np.ndarray:
    """The pixels of a PGM file's bytes (P5 or P2) as an (H, W) uint8 array (maxval < 256) or
    uint16 (maxval up to 65535); ``where`` names the file in error messages."""
    magic, (w, h, maxval), start = _header(data, where)
    dtype = np.uint8 if maxval < 256 else np.uint16
    if magic == b"P5":
        size = np.dtype(dtype).itemsize
        need = w * h * size
        body = data[start:start + need]
        if len(body) < need:
            raise ImageFormatError(
                f"{where}: truncated PGM file: a {w}x{h} image with maxval {maxval} needs "
                f"{need} bytes of pixels ({size} per pixel), the file has {len(body)}")
        img = np.frombuffer(body, dtype=">u2" if size == 2 else np.uint8).astype(dtype)
    else:
        words = data[start:].split()
        if len(words) != w * h:
            raise ImageFormatError(f"{where}: a {w}x{h} P2 (text) PGM needs {w * h} pixel "
                                   f"values, the file has {len(words)}")
        try:
            img = np.array([int(v) for v in words], dtype=np.int64)
        except ValueError:
            bad = next(v for v in words if not v.isdigit())
            raise ImageFormatError(f"{where}: P2 pixel {bad[:20]!r} is not a non-negative "
                                   "integer") from None
    if img.size and int(img.max()) > maxval:
        raise ImageFormatError(f"{where}: a pixel value {int(img.max())} is above the header's "
                               f"maxval {maxval}")
    return img.astype(dtype, copy=False).reshape(h, w)


def read_pgm(path: str | os.PathLike) -> np.ndarray:
    """The pixels of the PGM file at ``path`` (see :func:`parse_pgm`)."""
    return parse_pgm(Path(path).read_bytes(), f"'{os.fspath(path)}'")


def _scale(img: np.ndarray, maxval: float) -> np.ndarray:
    return np.divide(img, np.float32(maxval), dtype=np.float32)


def read_grey(path: str | os.PathLike, size: tuple[int, int] | None = None,
              resize: bool = False) -> np.ndarray:
    """The image at ``path`` as float32 (H, W) grey levels in [0, 1].

    PGM files are read by :func:`read_pgm` (scaled by their maxval); other formats by Pillow
    (``pip install pillow``), colour converted to grey. ``size`` = (width, height) checks the
    image's size: a different one raises :class:`ImageFormatError`, or with ``resize=True`` is
    resized to it (bilinear, by Pillow).
    """
    where = f"'{os.fspath(path)}'"
    data = Path(path).read_bytes()
    if data[:2] in (b"P5", b"P2"):
        raw = parse_pgm(data, where)
        maxval = _header(data, where)[1][2]
        img = _scale(raw, maxval)
    else:
        img = _pillow_grey(path, where)
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        got = f"{img.shape[1]}x{img.shape[0]}"
        if not resize:
            raise ImageFormatError(
                f"{where}: the image is {got} (width x height), expected {size[0]}x{size[1]}; "
                "crop it to the face and resize it to that size (or ask for resizing)")
        from PIL import Image

        pil = Image.fromarray(img).resize(tuple(size), Image.Resampling.BILINEAR)
        img = np.clip(np.asarray(pil, dtype=np.float32), 0, 1)
    return img


def _pillow_grey(path: str | os.PathLike, where: str) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError(f"{where} is not a PGM file; reading other image formats needs "
                          "Pillow: pip install pillow") from None
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                return _scale(arr, 65535.0 if mode.startswith("I;16") else max(arr.max(), 1))
            return _scale(np.asarray(im.convert("L")), 255.0)
    except UnidentifiedImageError:
        raise ImageFormatError(f"{where}: not an image file (neither PGM nor a format Pillow "
                               "reads: PNG, JPEG, BMP, TIFF, PPM ...)") from None
    except OSError as e:  # a truncated or corrupt file of a known format
        raise ImageFormatError(f"{where}: cannot read the image: {e}") from None


def _uniform(rng: np.random.Generator, spread: float, n: int) -> np.ndarray:
    return rng.uniform(-spread, spread, n) if spread else np.zeros(n)


def random_affine(x: np.ndarray, degrees: float = 10.0, translate: float = 0.06,
                  scale: tuple[float, float] = (0.95, 1.05), flip_p: float = 0.5,
                  brightness: float = 0.2, contrast: float = 0.2,
                  generator: np.random.Generator | None = None) -> np.ndarray:
    """A randomly warped copy of a batch of images in [0, 1], each image its own draw.

    Geometry: rotation by U(-degrees, degrees), scaling by U(*scale), a shift of up to
    ``translate`` of the width / height, a horizontal flip with probability ``flip_p``, all
    about the image centre, sampled bilinearly (pixels from outside take the nearest edge
    pixel). Light: ``x -> (x - mean) * c + mean * b`` with contrast c in 1 +- ``contrast`` and
    brightness b in 1 +- ``brightness``, clipped to [0, 1].

    Shape: x (N, C, H, W) float; output the same shape and dtype.
    """
    x = np.asarray(x)
    if x.ndim != 4 or x.dtype.kind != "f":
        raise ValueError(f"random_affine: expected a float batch (N, C, H, W), got shape "
                         f"{x.shape} of dtype {x.dtype}")
    if generator is None:
        from ..backend import default_generator
        generator = default_generator()
    rng = generator
    n, c, h, w = x.shape
    ang = np.deg2rad(_uniform(rng, degrees, n))[:, None, None]
    s = rng.uniform(scale[0], scale[1], n)[:, None, None]
    tx = _uniform(rng, translate * w, n)[:, None, None]
    ty = _uniform(rng, translate * h, n)[:, None, None]
    flip = (rng.random(n) < flip_p)[:, None, None]
    yc, xc = np.mgrid[0:h, 0:w].astype(np.float64)
    px, py = xc - (w - 1) / 2 - tx, yc - (h - 1) / 2 - ty  # (N, H, W): output about the centre
    cos, sin = np.cos(ang), np.sin(ang)
    sx = (cos * px + sin * py) / s  # the inverse map: where in the input each output pixel is
    sy = (-sin * px + cos * py) / s
    sx = np.clip(np.where(flip, -sx, sx) + (w - 1) / 2, 0, w - 1)
    sy = np.clip(sy + (h - 1) / 2, 0, h - 1)
    x0 = np.minimum(np.floor(sx).astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(np.floor(sy).astype(np.int64), max(h - 2, 0))
    fx, fy = (sx - x0).astype(x.dtype), (sy - y0).astype(x.dtype)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    flat = x.reshape(n, c, h * w)

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        idx = np.broadcast_to((yy * w + xx).reshape(n, 1, h * w), (n, c, h * w))
        return np.take_along_axis(flat, idx, axis=2).reshape(n, c, h, w)

    fx, fy = fx[:, None], fy[:, None]
    out = (at(y0, x0) * (1 - fx) + at(y0, x1) * fx) * (1 - fy) + \
          (at(y1, x0) * (1 - fx) + at(y1, x1) * fx) * fy
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    cf = (1 + _uniform(rng, contrast, n)).astype(x.dtype)[:, None, None, None]
    bf = (1 + _uniform(rng, brightness, n)).astype(x.dtype)[:, None, None, None]
    return np.clip((out - mean) * cf + mean * bf, 0, 1).astype(x.dtype, copy=False)
