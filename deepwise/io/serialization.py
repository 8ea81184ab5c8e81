"""Save and load state dicts and checkpoints as safetensors files - no pickle, atomic writes.

The file format, in one screen:

* A flat state dict ``{"fc.weight": tensor, "fc.bias": tensor}`` becomes a plain safetensors file
  whose tensor names are the dict's keys, so any safetensors reader can open it.
* A nested object (a full checkpoint ``{"model": sd, "optimizer": opt.state_dict(), "epoch": 3,
  "history": {...}}``) becomes ONE safetensors file too: every array is stored under the dotted
  path that leads to it (``model.fc.weight``, ``optimizer.state.0.exp_avg``); everything that is
  not an array (ints, floats, strings, lists, tuples, dicts with int keys, None) is kept as JSON in
  the file's metadata (``deepwise.structure``), with a small marker where each array goes.
  Loading rebuilds the same object: Tensors come back as Tensors, NumPy arrays as arrays.
* The metadata also holds a CRC-32 of the array bytes (``deepwise.crc32``), so a file whose
  data was damaged after it was written is reported instead of silently loaded.
* Writing is atomic: the bytes go to a temporary file in the target's directory, are flushed to
  disk (``fsync``), and only then renamed over the target (``os.replace``). A crash leaves either
  the old file or the new one, never half of one, and no temporary file behind.

>>> save(model.state_dict(), "mlp.safetensors")              # doctest: +SKIP
>>> model.load_state_dict(load("mlp.safetensors"))            # doctest: +SKIP
>>> save_checkpoint("ckpt.safetensors", model, opt, epoch=5)  # doctest: +SKIP
>>> load_checkpoint("ckpt.safetensors", model, opt)["epoch"]  # doctest: +SKIP
5
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import sys
import threading
import zlib
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from .. import backend
from ..nn.module import Module, state_dict_prefix_hint
from ..nn.parameter import Parameter
from ..tensor import Tensor, from_numpy

__all__ = ["SerializationError", "CheckpointError", "atomic_write", "atomic_path", "save", "load",
           "save_checkpoint", "load_checkpoint", "check_state_dict", "save_model", "load_model"]

FORMAT_VERSION = "1"
_META_FORMAT = "deepwise.format"
_META_STRUCTURE = "deepwise.structure"
_META_CRC = "deepwise.crc32"
# markers in the JSON skeleton: where an array goes, and the containers JSON has no word for
_TENSOR, _NDARRAY, _TUPLE, _DICT = "__tensor__", "__ndarray__", "__tuple__", "__dict__"
_MARKERS = frozenset((_TENSOR, _NDARRAY, _TUPLE, _DICT))
_ENCODE_MORE: Any = None  # set below, with the whole-module encoding
_CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "history", "rng_state")


class SerializationError(ValueError):
    """A file could not be read (not safetensors, truncated, corrupt) or an object could not be
    written (a value of a type that has no safe encoding). The message names the file or path."""


class CheckpointError(RuntimeError):
    """A checkpoint does not fit the model/optimizer it is loaded into (another architecture).
    The message lists the missing, unexpected and shape-mismatched keys."""


def _safetensors() -> Any:
    try:
        import safetensors
        import safetensors.numpy  # noqa: F401 - binds safetensors.numpy
    except ImportError as e:  # pragma: no cover - the test environment has it
        raise ImportError("deepwise.io needs the `safetensors` package to save and load files: "
                          "pip install safetensors") from e
    return safetensors


# --------------------------------------------------------------------------------------------
# atomic writes


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a fresh temporary path next to ``path``; when the block ends without error, the
    temporary file is fsynced and renamed over ``path``. On any error (KeyboardInterrupt too) it
    is removed and ``path`` is left as it was.

    >>> with atomic_path("weights.bin") as tmp:   # doctest: +SKIP
    ...     array.tofile(tmp)
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write '{path}': the directory '{directory}' does not "
                                "exist")
    tmp = os.path.join(directory,
                       f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never clobber another writer's temp file; mode 0o666 lets the umask decide, as open()
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file for writing; on success it replaces ``path`` atomically.

    >>> with atomic_write("log.csv") as f:   # doctest: +SKIP
    ...     f.write("epoch,loss\\n")
    """
    if "w" not in mode:
        raise ValueError(f"atomic_write: mode must be a write mode ('w' or 'wb'), got {mode!r}")
    with atomic_path(path) as tmp:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()


# --------------------------------------------------------------------------------------------
# nested objects <-> (arrays, JSON skeleton)


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "value"


def _store(arr: np.ndarray, path: tuple, arrays: dict[str, np.ndarray]) -> str:
    arr = backend.to_numpy(arr)  # a device array is saved from a host copy
    if arr.dtype.kind not in "biuf":
        raise SerializationError(f"save: cannot store the array at '{_dotted(path)}': dtype "
                                 f"{arr.dtype} (only bool, int, uint and float arrays)")
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    key = base = _dotted(path)
    n = 1
    while key in arrays:  # {'a.b': x, 'a': {'b': y}} would collide; the skeleton keeps the real key
        key = f"{base}#{n}"
        n += 1
    arrays[key] = arr
    return key


def _encode_key(k: Any, path: tuple) -> Any:
    if k is None or isinstance(k, (str, bool, int, float)):
        return k
    if isinstance(k, np.generic) and k.dtype.kind in "biuf":
        return k.item()
    raise SerializationError(f"save: cannot store the dict key {k!r} ({type(k).__name__}) at "
                             f"'{_dotted(path)}': keys must be str, int, float, bool or None")


def _encode(obj: Any, path: tuple, arrays: dict[str, np.ndarray]) -> Any:
    """Return the JSON skeleton of ``obj``; arrays are moved into ``arrays`` under dotted keys."""
    if isinstance(obj, Parameter) and getattr(_IN_MODULE, "depth", 0):  # a module's weight
        return {_PARAM: [_store(obj.data, path, arrays), obj.requires_grad]}
    if isinstance(obj, Tensor):
        return {_TENSOR: _store(obj.data, path, arrays)}
    if isinstance(obj, np.ndarray) or backend.is_device_array(obj):
        return {_NDARRAY: _store(obj, path, arrays)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not _MARKERS.intersection(obj):
            return {k: _encode(v, path + (k,), arrays) for k, v in obj.items()}
        return {_DICT: [[_encode_key(k, path), _encode(v, path + (k,), arrays)]
                        for k, v in obj.items()]}
    if isinstance(obj, list):
        return [_encode(v, path + (i,), arrays) for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, path + (i,), arrays) for i, v in enumerate(obj)]}
    if _ENCODE_MORE is not None:  # whole modules, sets, dtypes, functions (see below)
        done, node = _ENCODE_MORE(obj, path, arrays)
        if done:
            return node
    raise SerializationError(
        f"save: cannot store a value of type {type(obj).__name__} at '{_dotted(path)}': deepwise "
        "files hold tensors, NumPy arrays, numbers, strings, None, and lists/tuples/dicts of them "
        "(no pickle). Store its state_dict() instead.")


def _decode(node: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if isinstance(node, list):
        return [_decode(v, arrays, where) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (tag, value), = node.items()
        if tag in (_TENSOR, _NDARRAY):
            if value not in arrays:
                raise SerializationError(f"load: '{where}' is corrupt: its structure refers to an "
                                         f"array '{value}' that the file does not contain")
            arr = arrays[value]
            return from_numpy(arr) if tag == _TENSOR else arr
        if tag == _TUPLE:
            return tuple(_decode(v, arrays, where) for v in value)
        if tag == _DICT:
            return {k: _decode(v, arrays, where) for k, v in value}
        if tag in _MORE_TAGS:
            return _DECODE_MORE(tag, value, arrays, where)
    return {k: _decode(v, arrays, where) for k, v in node.items()}


def _crc32(arrays: dict[str, np.ndarray]) -> str:
    crc = 0
    for key in sorted(arrays):
        a = arrays[key]
        if a.size:
            crc = zlib.crc32(memoryview(a.reshape(-1)).cast("B"), crc)
    return f"{crc:08x}"


# --------------------------------------------------------------------------------------------
# save / load


def save(obj: Any, path: str | os.PathLike | IO[bytes]) -> None:
    """Write ``obj`` (a state dict, or a nested checkpoint) to ``path`` as a safetensors file.

    Atomic: the target is replaced only once the new file is complete and on disk.
    Arrays of any shape (0-d and empty too) and bool/int/uint/float dtypes keep their dtype.
    ``path`` may also be a binary file object (``torch.save(model, f)``); ``obj`` may be a whole
    ``nn.Module`` (see :func:`load` for how it comes back).
    """
    st = _safetensors()
    arrays: dict[str, np.ndarray] = {}
    skeleton = _encode(obj, (), arrays)
    metadata = {_META_FORMAT: FORMAT_VERSION,
                _META_STRUCTURE: json.dumps(skeleton, separators=(",", ":")),
                _META_CRC: _crc32(arrays)}
    if hasattr(path, "write"):
        path.write(st.numpy.save(arrays, metadata=metadata))
        return
    with atomic_path(path) as tmp:
        st.numpy.save_file(arrays, tmp, metadata=metadata)


def load(path: str | os.PathLike | IO[bytes], map_location: Any = None, *,
         weights_only: bool = True, mmap: Any = None) -> Any:
    """Read a file written by :func:`save` (the same object comes back) or any safetensors file
    (a dict of name -> Tensor). A truncated, corrupt or foreign file raises SerializationError.

    ``path`` may be a binary file object. A whole module comes back as it was saved, rebuilt
    WITHOUT running any code of the file's choosing (no pickle): its class is looked up by name
    and filled in. With ``weights_only=True`` (the default, as in PyTorch) only deepwise's own
    classes and those allow-listed by ``deepwise.serialization.add_safe_globals([...])`` (or the
    ``safe_globals([...])`` context) are looked up; ``weights_only=False`` trusts the file and
    imports the modules it names. ``map_location="cuda"`` puts every tensor (and a whole
    module's parameters) on the GPU; None or ``"cpu"`` keeps them on the host, where files
    are read. (``model.load_state_dict(load(path))`` copies onto the model's own device.)
    """
    device = None
    if map_location is not None and not callable(map_location) and \
            not isinstance(map_location, dict):
        device = backend.as_device(map_location, "load: map_location")
    _LOAD_OPTIONS.weights_only = bool(weights_only)
    if device is not None and device != "cpu":
        return _map_to(load(path, weights_only=weights_only, mmap=mmap), device)
    st = _safetensors()
    if hasattr(path, "read"):
        return _load_bytes(path.read(), getattr(path, "name", "<file object>"))
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such file: '{path}'")
    try:
        with st.safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # SafetensorError, or an OSError/ValueError from a damaged file
        raise SerializationError(
            f"load: '{path}' is not a readable safetensors file - it is truncated, corrupt, or in "
            f"another format (safetensors says: {e})") from e
    return _rebuild(path, metadata, arrays)


def _map_to(obj: Any, device: Any) -> Any:
    """``obj`` (what load read) with every tensor and array, and every module's parameters, on
    ``device`` (a NumPy array - a state-dict value - becomes a device array)."""
    if isinstance(obj, np.ndarray):
        return backend.move(obj, device)
    if isinstance(obj, Tensor):
        moved = obj.to(device).detach()
        return moved.requires_grad_(obj.requires_grad) if obj.is_floating_point() else moved
    if isinstance(obj, dict):
        return type(obj)((k, _map_to(v, device)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_map_to(v, device) for v in obj)
    if hasattr(obj, "_parameters") and hasattr(obj, "to"):  # a whole nn.Module
        return obj.to(device)
    return obj


def _load_bytes(data: bytes, where: str) -> Any:
    """:func:`load` from the bytes of a safetensors file (a file object's contents)."""
    st = _safetensors()
    try:
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + n])
        metadata = header.get("__metadata__") or {}
        arrays = st.numpy.load(data)
    except Exception as e:
        raise SerializationError(f"load: '{where}' is not a readable safetensors file - it is "
                                 f"truncated, corrupt, or in another format ({e})") from e
    return _rebuild(where, metadata, arrays)


def _rebuild(path: str, metadata: dict, arrays: dict[str, np.ndarray]) -> Any:
    if _META_CRC in metadata and _crc32(arrays) != metadata[_META_CRC]:
        raise SerializationError(f"load: '{path}' is corrupt: the checksum of its array data does "
                                 f"not match the one written with it")
    if _META_STRUCTURE not in metadata:  # a plain safetensors file from another tool
        return {k: from_numpy(v) for k, v in arrays.items()}
    try:
        skeleton = json.loads(metadata[_META_STRUCTURE])
    except ValueError as e:
        raise SerializationError(f"load: '{path}' is corrupt: its structure metadata is not valid "
                                 f"JSON ({e})") from e
    return _decode(skeleton, arrays, path)


# --------------------------------------------------------------------------------------------
# whole modules, without pickle: the class by name, its attributes as data


_OBJECT, _PARAM, _GLOBAL, _SET, _DTYPE = ("__object__", "__parameter__", "__global__",
                                          "__set__", "__dtype__")
_MORE_TAGS = frozenset((_OBJECT, _PARAM, _GLOBAL, _SET, _DTYPE))
_MARKERS = _MARKERS | _MORE_TAGS
_SAFE_GLOBALS: list[Any] = []
_LOAD_OPTIONS = threading.local()
_IN_MODULE = threading.local()


def _qualified(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _encode_more(obj: Any, path: tuple, arrays: dict[str, np.ndarray]) -> tuple[bool, Any]:
    """The JSON node of a Module (class name + attributes), Parameter, set, dtype or named
    function/class; (False, None) for anything else."""
    if isinstance(obj, Module):
        hooks = [k for k in ("_forward_pre_hooks", "_forward_hooks") if obj.__dict__.get(k)]
        if hooks:
            raise SerializationError(f"save: the module at '{_dotted(path)}' "
                                     f"({type(obj).__name__}) has {hooks} registered; hooks are "
                                     "code and are not saved - remove them first")
        state = {k: v for k, v in obj.__dict__.items()
                 if k not in ("_forward_pre_hooks", "_forward_hooks")}
        _IN_MODULE.depth = getattr(_IN_MODULE, "depth", 0) + 1
        try:
            return True, {_OBJECT: [_qualified(type(obj)), _encode(state, path, arrays)]}
        finally:
            _IN_MODULE.depth -= 1
    if not getattr(_IN_MODULE, "depth", 0):  # sets, dtypes, functions: only as module attributes
        return False, None
    if isinstance(obj, (set, frozenset)):
        return True, {_SET: [_encode(v, path, arrays) for v in sorted(obj, key=repr)]}
    if isinstance(obj, np.dtype):
        return True, {_DTYPE: str(obj)}
    if (isinstance(obj, type) or callable(obj)) and hasattr(obj, "__qualname__") and \
            "<" not in obj.__qualname__ and getattr(obj, "__module__", None):
        return True, {_GLOBAL: _qualified(obj)}  # a function or class by name (not a lambda)
    return False, None


def _allowed(name: str) -> bool:
    if name.startswith("deepwise.") or name.startswith("numpy:") or \
            not getattr(_LOAD_OPTIONS, "weights_only", True):
        return True
    return any(_qualified(g) == name for g in _SAFE_GLOBALS)


def _resolve(name: str, where: str) -> Any:
    """The class or function ``module:qualname`` - only if allowed (see :func:`load`)."""
    if not _allowed(name):
        raise SerializationError(
            f"load: '{where}' holds an object of {name.replace(':', '.')}, which is not "
            f"allow-listed, so it is not rebuilt (weights_only=True). If you trust this file, "
            f"pass weights_only=False, or allow the class: "
            f"deepwise.serialization.add_safe_globals([{name.split(':')[1]}])")
    module, _, qual = name.partition(":")
    try:
        obj = sys.modules.get(module) or importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise SerializationError(f"load: '{where}' names {name.replace(':', '.')}, which cannot "
                                 f"be found ({e}); import or define it before loading") from e
    return obj


def _decode_more(tag: str, value: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if tag == _PARAM:
        key, requires_grad = value
        if key not in arrays:
            raise SerializationError(f"load: '{where}' is corrupt: no array '{key}'")
        return Parameter(arrays[key], requires_grad=requires_grad)
    if tag == _SET:
        return {_decode(v, arrays, where) for v in value}
    if tag == _DTYPE:
        return np.dtype(value)
    if tag == _GLOBAL:
        return _resolve(value, where)
    name, state = value
    cls = _resolve(name, where)
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise SerializationError(f"load: '{where}': {name} is not an nn.Module subclass")
    obj = cls.__new__(cls)  # no __init__: the saved attributes are the object
    attrs = _decode(state, arrays, where)
    attrs.setdefault("_forward_pre_hooks", [])
    attrs.setdefault("_forward_hooks", [])
    obj.__dict__.update(attrs)
    return obj


_ENCODE_MORE, _DECODE_MORE = _encode_more, _decode_more


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Allow ``load(..., weights_only=True)`` to rebuild objects of these classes (your own
    ``nn.Module`` subclasses) and to name these functions."""
    for g in safe_globals:
        if g not in _SAFE_GLOBALS:
            _SAFE_GLOBALS.append(g)


def get_safe_globals() -> list[Any]:
    return list(_SAFE_GLOBALS)


def clear_safe_globals() -> None:
    _SAFE_GLOBALS.clear()


@contextlib.contextmanager
def safe_globals(safe_globals: list[Any]) -> Iterator[None]:
    """``with safe_globals([MyModel]): load(f)`` - the allow-list extended for one block."""
    before = list(_SAFE_GLOBALS)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _SAFE_GLOBALS[:] = before


# --------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path: str | os.PathLike, model: Any, optimizer: Any = None,
                    epoch: int | None = None, history: Any = None, *, scheduler: Any = None,
                    **extra: Any) -> None:
    """Save everything a run needs to continue exactly: the model's and optimizer's state dicts,
    the scheduler's, the epoch count, the history and deepwise's random-generator state.

    ``model``/``optimizer``/``scheduler`` are objects with ``state_dict()`` (a model may also be
    given as a state dict). ``history`` is a ``History`` or its ``.history`` dict. ``extra``
    entries are stored as they are (numbers, strings, arrays, lists and dicts of them).
    """
    taken = sorted(set(extra) & set(_CHECKPOINT_KEYS))
    if taken:
        raise ValueError(f"save_checkpoint: extra entries {taken} clash with the checkpoint's own "
                         f"keys {list(_CHECKPOINT_KEYS)}")
    ckpt: dict[str, Any] = {"model": model if isinstance(model, dict) else model.state_dict()}
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        ckpt["scheduler"] = scheduler.state_dict()
    if epoch is not None:
        ckpt["epoch"] = int(epoch)
    if history is not None:
        ckpt["history"] = dict(getattr(history, "history", history))
    ckpt["rng_state"] = backend.default_generator().bit_generator.state
    ckpt.update(extra)
    save(ckpt, path)


def _shape(v: Any) -> tuple[int, ...]:
    return tuple(np.shape(v.data if isinstance(v, Tensor) else v))


def _names(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


def check_state_dict(model: Any, state: dict[str, Any], where: str = "load_state_dict",
                     strict: bool = True) -> None:
    """Raise CheckpointError listing missing / unexpected / shape-mismatched keys when ``state``
    does not fit ``model`` (unknown keys are tolerated when ``strict=False``; shapes never are)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k}: checkpoint {_shape(state[k])} vs model {_shape(v)}"
                  for k, v in own.items() if k in state and _shape(state[k]) != _shape(v)]
    if not mismatched and (not strict or not (missing or unexpected)):
        return
    lines = [f"{where}: the checkpoint does not fit this model ({type(model).__name__}) - was it "
             f"saved from another architecture?"]
    if strict and missing:
        lines.append(f"  missing keys (in the model, not in the checkpoint): {_names(missing)}")
    if strict and unexpected:
        lines.append(f"  unexpected keys (in the checkpoint, not in the model): "
                     f"{_names(unexpected)}")
    if mismatched:
        lines.append(f"  shape mismatches: {_names(mismatched)}")
    hint = state_dict_prefix_hint(own, state)
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckpointError("\n".join(lines))


def load_checkpoint(path: str | os.PathLike, model: Any = None, optimizer: Any = None, *,
                    scheduler: Any = None, strict: bool = True,
                    restore_rng: bool = True) -> dict[str, Any]:
    """Load a checkpoint; restore ``model``, ``optimizer`` and ``scheduler`` when given, and
    deepwise's random generator (so shuffling and dropout continue as in an uninterrupted run).

    Returns the checkpoint dict (``'epoch'``, ``'history'`` and the extra entries included).
    A file holding only a state dict (from ``save(model.state_dict(), path)``) is accepted for
    ``model``. A checkpoint of another architecture raises CheckpointError listing the keys.
    """
    where = f"load_checkpoint('{os.fspath(path)}')"
    ckpt = load(path)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{where}: the file holds a {type(ckpt).__name__}, not a checkpoint")
    if "model" not in ckpt and ckpt and all(isinstance(v, (Tensor, np.ndarray))
                                            for v in ckpt.values()):
        ckpt = {"model": ckpt}  # a bare state dict
    if model is not None:
        if "model" not in ckpt:
            raise CheckpointError(f"{where}: the file has no 'model' entry (it has "
                                  f"{sorted(ckpt)})")
        check_state_dict(model, ckpt["model"], where, strict)
        model.load_state_dict(ckpt["model"], strict=strict)
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if name not in ckpt:
            raise CheckpointError(f"{where}: the checkpoint has no {name} state (it has "
                                  f"{sorted(ckpt)}); save it with save_checkpoint(..., "
                                  f"{name}={name})")
        try:
            obj.load_state_dict(ckpt[name])
        except (KeyError, ValueError, IndexError, TypeError) as e:
            raise CheckpointError(f"{where}: the saved {name} state does not fit this "
                                  f"{type(obj).__name__}: {e}") from e
    if restore_rng and "rng_state" in ckpt:
        backend.default_generator().bit_generator.state = ckpt["rng_state"]
    return ckpt


def save_model(path: str | os.PathLike, model: Any, config: dict[str, Any], optimizer: Any = None,
               **extra: Any) -> None:
    """An application's checkpoint: the model's ``config`` (``{"model": NAME, ...}``, enough for
    ``models.build`` to rebuild the architecture), ``extra`` entries (vocabularies, label names,
    normalisation statistics) and the weights, in one safetensors file (:func:`save_checkpoint`).
    """
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise ValueError(f"save_model: config must be a dict naming its architecture "
                         f"({{'model': 'char-rnn', ...}}), got {config!r}")
    save_checkpoint(path, model, optimizer, config=dict(config), **extra)


def load_model(path: str | os.PathLike, build: Any, expected: str | tuple[str, ...] | None = None,
               *, needs: tuple[str, ...] = (), writer: str | None = None
               ) -> tuple[Any, dict[str, Any]]:
    """Rebuild ``(model, checkpoint)`` from a file written by :func:`save_model`.

    ``build(config)`` makes the architecture (``models.build``); its weights are loaded and the
    model is put in eval mode. ``expected`` names the architecture(s) this caller can use and
    ``needs`` the extra entries it reads: a checkpoint of another kind raises ValueError saying
    what the file holds and, with ``writer``, which command writes the right one.
    """
    where = f"'{os.fspath(path)}'"
    ckpt = load_checkpoint(path, restore_rng=False)
    config = ckpt.get("config")
    names = (expected,) if isinstance(expected, str) else tuple(expected or ())
    how = f"; write one with '{writer}'" if writer else ""
    if not isinstance(config, dict) or "model" not in config:
        raise ValueError(f"{where} holds no model config, so it was not written by an "
                         f"application's training command{how}")
    if names and config["model"] not in names:
        raise ValueError(f"{where} is a {config['model']!r} checkpoint, not "
                         f"{' or '.join(repr(n) for n in names)}{how}")
    missing = [k for k in needs if k not in ckpt]
    if missing:
        raise ValueError(f"{where} lacks {missing} (it has {sorted(ckpt)}){how}")
    model = build(config)
    load_checkpoint(path, model, restore_rng=False)
    model.eval()
    return model, ckpt
