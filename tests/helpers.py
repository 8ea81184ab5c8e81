"""Shared test helpers: one call checks an op's gradient (float64 finite differences) and its
parity with PyTorch (float32 values and gradients), so each op's test is a few lines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import deepwise as dw

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # CI installs the CPU build; a developer may not have it
    torch = None

SKIP_TORCH = "PyTorch is not installed: parity with PyTorch not checked (pip install torch==2.13.0)"


def needs_torch() -> None:
    """Skip the rest of the calling test (a comparison with PyTorch) when torch is absent; what
    the test checked before this call has run and passed."""
    if torch is None:
        pytest.skip(SKIP_TORCH)


def rand(*shape: int, seed: int = 0, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Float64 uniform test data, repeatable."""
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def _to_dw(x: Any, dtype: Any, grad: bool) -> Any:
    """A copy of a float array as a tensor of ``dtype`` (memory order kept: a transposed view
    stays non-contiguous); other values pass as they are."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return dw.from_numpy(np.array(x, dtype=dtype)).requires_grad_(grad)
    if isinstance(x, np.ndarray):
        return dw.from_numpy(x)
    return x


def _to_torch(x: Any, grad: bool) -> Any:
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return torch.tensor(x.astype(np.float32), requires_grad=grad)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.copy())
    return x


def _outputs(out: Any) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check_op(fn: Callable[..., Any], inputs: Sequence[Any],
             torch_fn: Callable[..., Any] | None = None, *, grad: Sequence[bool] | None = None,
             rtol: float = 1e-5, atol: float = 1e-6, gc_atol: float = 1e-5,
             gc_rtol: float = 1e-3, eps: float = 1e-6, check_grad: bool = True) -> None:
    """Check a deepwise op end to end.

    ``inputs``: NumPy arrays (float arrays become tensors; pass float64 data, non-contiguous
    views welcome) or other values passed as they are. ``grad[i]`` says which float inputs
    require grad (default: all float arrays).

    1. gradcheck in float64 (central differences, every Jacobian entry takes part);
    2. float32 output: finite, float32, the same shape as PyTorch's; when an input requires
       grad, some output does;
    3. with PyTorch: the same values and gradients (float32, rtol/atol) for a random upstream
       gradient; skipped with a message when torch is absent. Each output must agree with
       PyTorch's on ``requires_grad`` (an op that loses its graph fails), and when an input
       requires grad at least one gradient must be compared (nothing passes unchecked).
    """
    if grad is None:
        grad = [isinstance(x, np.ndarray) and x.dtype.kind == "f" for x in inputs]
    # 1. gradient check in float64
    if check_grad:
        t64 = [_to_dw(x, np.float64, g) for x, g in zip(inputs, grad)]
        dw.autograd.gradcheck(fn, t64, eps=eps, atol=gc_atol, rtol=gc_rtol)
    # 2. float32 forward
    t32 = [_to_dw(x, np.float32, g) for x, g in zip(inputs, grad)]
    outs = _outputs(fn(*t32))
    for o in outs:
        if isinstance(o, dw.Tensor) and o.dtype.kind == "f":
            assert o.dtype == np.float32, f"output dtype {o.dtype}, expected float32"
            assert np.all(np.isfinite(o.data)), "output has NaN/Inf"
    if any(isinstance(a, dw.Tensor) and a.requires_grad for a in t32):
        assert any(isinstance(o, dw.Tensor) and o.requires_grad for o in outs), \
            "an input requires grad, but no output does: the op lost its graph"
    needs_torch()
    if torch_fn is None:
        assert check_grad, "check_op: check_grad=False without torch_fn checks no gradient"
        return
    tt = [_to_torch(x, g) for x, g in zip(inputs, grad)]
    touts = _outputs(torch_fn(*tt))
    assert len(touts) == len(outs), f"{len(outs)} outputs, PyTorch gives {len(touts)}"
    rng = np.random.default_rng(1)
    dws, tos = [], []
    for k, (o, to) in enumerate(zip(outs, touts)):
        tv = to.detach().numpy()
        assert tuple(o.shape) == tuple(tv.shape), f"output #{k}: shape {o.shape} vs {tv.shape}"
        np.testing.assert_allclose(o.data, tv, rtol=rtol, atol=atol,
                                   err_msg=f"output #{k} differs from PyTorch")
        assert o.requires_grad == to.requires_grad, \
            f"output #{k}: requires_grad={o.requires_grad}, PyTorch's is {to.requires_grad}"
        if o.requires_grad:
            w = rng.standard_normal(tv.shape).astype(np.float32)
            dws.append((o * dw.tensor(w)).sum())
            tos.append((to * torch.tensor(w)).sum())
    wants_grad = [i for i, a in enumerate(t32) if isinstance(a, dw.Tensor) and a.requires_grad]
    if not wants_grad:
        return
    assert dws, f"inputs {wants_grad} require grad, but no output does: no gradient compared"
    sum(dws[1:], dws[0]).backward()
    sum(tos[1:], tos[0]).backward()
    compared = 0
    for i in wants_grad:
        a, b = t32[i], tt[i]
        if b.grad is None:
            assert a.grad is None, f"input #{i}: a gradient, PyTorch has none"
            continue
        assert a.grad is not None, f"input #{i}: no gradient, PyTorch has one"
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=rtol * 10,
                                   atol=atol * 10,
                                   err_msg=f"gradient of input #{i} differs from PyTorch")
        compared += 1
    assert compared, f"inputs {wants_grad} require grad, but no gradient was compared"
