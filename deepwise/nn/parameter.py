"""Parameter: a Tensor that a Module registers as learnable (it requires grad by default)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module's learnable weight: assigning one to a Module attribute registers
    it, so ``module.parameters()`` finds it and ``state_dict()`` saves it.

    ``Parameter(t)`` shares ``t``'s memory (no copy), as in PyTorch; it requires grad unless
    ``requires_grad=False`` (a frozen weight). Ops on a Parameter return plain Tensors.

    >>> import deepwise as dw
    >>> w = dw.nn.Parameter(dw.zeros(2, 3))
    >>> w.requires_grad, w.is_leaf
    (True, True)
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            arr = np.empty((0,), backend.get_default_dtype())
        elif isinstance(data, Tensor):
            arr = data.data
        elif isinstance(data, np.ndarray):
            arr = data
        else:
            arr = Tensor(data).data
        # the slots of Tensor, set here without the copy that Tensor.__init__ makes
        self.data = arr
        self.grad = None
        self._requires_grad = False
        self.grad_fn = None
        self._output_nr = 0
        self._version = 0
        self._hooks = None
        if requires_grad:
            self.requires_grad = True

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        # pickle/deepcopy: a new Parameter holding a copy of the data, same requires_grad
        return (Parameter, (self.data, self._requires_grad))

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self.data.copy(), self._requires_grad)
        if self.grad is not None:
            p.grad = Tensor._make(self.grad.data.copy())
        memo[id(self)] = p
        return p
