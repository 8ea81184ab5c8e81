"""What ``module.state_dict()`` holds: each value a view of a parameter or buffer (sharing its
memory, as PyTorch's detached tensors do) that behaves like a detached PyTorch tensor *and* is a
NumPy array.

PyTorch code does ``{k: v.clone() for k, v in model.state_dict().items()}``, ``v.cpu()``,
``v.detach().numpy()``, ``v.shape``, ``v.dtype``, ``v * 0.5``; deepwise's own code (and older user
code) uses the values as arrays (``v.copy()``, ``np.testing``, ``torch.from_numpy(v)``, safetensors
files). A :class:`StateValue` is an ``ndarray`` subclass (:class:`deepwise.tensor.TensorData`, which
brings ``clone``, ``numpy``, ``view(*shape)``, ``size()`` and the in-place
``add_``/``copy_``/``zero_``...) with the read-only tensor methods PyTorch scripts call on
state-dict values.

As in PyTorch, the values share memory with the model: training goes on changing them, and
``sd[k].zero_()`` zeroes the parameter. Keep a snapshot ("the best weights so far") with
``{k: v.clone() ...}``, ``v.copy()`` or ``copy.deepcopy(sd)``.

>>> from deepwise import nn
>>> sd = nn.Linear(3, 2).state_dict()
>>> w = sd["weight"]
>>> w.shape, w.dim(), w.numel(), type(w.clone()).__name__, type(w.cpu().numpy()).__name__
((2, 3), 2, 6, 'Tensor', 'ndarray')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import TensorData

__all__ = ["StateValue", "state_value"]


class StateValue(TensorData):
    """A state-dict value: an ndarray with PyTorch's tensor methods (see the module docstring)."""

    requires_grad = False
    grad = None

    def detach(self) -> StateValue:
        return self

    def cpu(self) -> StateValue:
        return self

    def to(self, *args: Any, **kwargs: Any) -> Any:
        """``to(dtype)`` / ``to("cpu")`` / ``to(other)``: a deepwise Tensor (as ``clone``)."""
        return self.clone().to(*args, **kwargs)

    def float(self) -> StateValue:
        return self.astype(np.float32)

    def double(self) -> StateValue:
        return self.astype(np.float64)

    def half(self) -> StateValue:
        return self.astype(np.float16)

    def long(self) -> StateValue:
        return self.astype(np.int64)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def is_floating_point(self) -> bool:
        return self.dtype.kind == "f"

    def contiguous(self) -> StateValue:
        return np.ascontiguousarray(self).view(StateValue)

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))


def state_value(arr: Any) -> Any:
    """The NumPy array ``arr`` seen as a StateValue, sharing its memory (a device array: the
    array itself)."""
    if type(arr) is not np.ndarray:
        return arr
    return arr.view(StateValue)
