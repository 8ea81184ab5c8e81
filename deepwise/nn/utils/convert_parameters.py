"""Parameters as one flat vector and back (PyTorch's ``torch.nn.utils.parameters_to_vector`` and
``vector_to_parameters``): what second-order methods, evolution strategies and weight averaging
work on.

>>> from deepwise import nn
>>> model = nn.Linear(3, 2)
>>> v = parameters_to_vector(model.parameters())
>>> v.shape
(8,)
>>> vector_to_parameters(v * 0, model.parameters())
>>> float(abs(model.weight).sum())
0.0
"""

from __future__ import annotations

from collections.abc import Iterable

from ...ops.shape import cat
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _params(parameters: Tensor | Iterable[Tensor], fn: str) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: expected parameters to be Tensors, got {type(p).__name__} at "
                            f"position {i}")
    return params


def parameters_to_vector(parameters: Tensor | Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated in order into one 1-D tensor (differentiable:
    a gradient on the vector flows back to each parameter).

    Shape: parameters of n_1, n_2, ... elements -> (n_1 + n_2 + ...,).
    """
    params = _params(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Tensor | Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place (no gradient is
    recorded, as in PyTorch). ``vec`` must have exactly as many elements as the parameters."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, got "
                        f"{type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vec, got shape {tuple(vec.shape)}")
    params = _params(parameters, "vector_to_parameters")
    total = sum(p.numel() for p in params)
    if total != vec.shape[0]:
        raise ValueError(f"vector_to_parameters: vec has {vec.shape[0]} elements, the "
                         f"parameters have {total}")
    data, start = vec.detach().data, 0
    for p in params:
        n = p.numel()
        p.data[...] = data[start:start + n].reshape(p.shape)
        p._version += 1
        start += n
