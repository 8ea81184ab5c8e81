"""The compiled optimizer updates (deepwise.kernels.optim) against the NumPy rule they replace:
the same parameters and state bit for bit, for every option, float32 and float64, contiguous and
transposed gradients, and a non-contiguous parameter (which keeps the NumPy path)."""

from __future__ import annotations

import numpy as np
import pytest

import deepwise as dw
from deepwise import kernels, optim

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")

CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01, maximize=True)),
    ("SGD", dict(lr=0.5, momentum=1.0, nesterov=True)),  # factors of 1 the NumPy rule skips
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=1e-2, maximize=True)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    # options given as NumPy scalars (e.g. from np.linspace): the same rounding on both paths
    ("Adam", dict(lr=np.float64(1e-2), weight_decay=np.float64(0.01),
                  betas=(np.float32(0.9), np.float64(0.99)))),
    ("SGD", dict(lr=np.float32(0.05), momentum=np.float64(0.9), weight_decay=np.float64(0.01))),
]


def _run(name, kwargs, dtype, layout, numba, steps=12):
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (5,), (3, 4, 2), ()]
    params, grads = [], []
    for s in shapes:
        a = rng.standard_normal(s).astype(dtype)
        if layout == "param-transposed" and len(s) == 2:
            a = np.ascontiguousarray(a.T).T  # an F-ordered parameter: the NumPy path
        params.append(dw.tensor(a, requires_grad=True))
    if layout == "param-transposed":
        assert not params[0].data.flags.c_contiguous
    for _ in range(steps):
        gs = []
        for s in shapes:
            g = rng.standard_normal(s).astype(dtype)
            if layout == "grad-transposed" and len(s) == 2:
                g = np.ascontiguousarray(g.T).T  # the layout a GEMM's transposed output has
            gs.append(g)
        grads.append(gs)
    opt = getattr(optim, name)(params, **kwargs)
    with kernels.use_numba(numba):
        for gs in grads:
            for p, g in zip(params, gs):
                p.grad = dw.tensor(g)
            opt.step()
    return params, opt, grads


@pytest.mark.parametrize("layout", ["contiguous", "grad-transposed", "param-transposed"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])  # float16: NumPy lines
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_fused_update_is_the_numpy_rule_bit_for_bit(name, kwargs, dtype, layout):
    ref, ref_opt, _ = _run(name, kwargs, dtype, layout, numba=False)
    got, opt, grads = _run(name, kwargs, dtype, layout, numba=True)
    for i, (a, b) in enumerate(zip(ref, got)):
        assert b.data.dtype == dtype
        np.testing.assert_array_equal(a.data, b.data, err_msg=f"param #{i}")
        sa, sb = ref_opt.state[a], opt.state[b]
        assert sorted(sa) == sorted(sb)
        for k in sa:
            if isinstance(sa[k], np.ndarray):
                assert sb[k].dtype == dtype
                np.testing.assert_array_equal(sa[k], sb[k], err_msg=f"param #{i} state {k}")
            else:
                assert sa[k] == sb[k]
    for p, gs in zip(got, zip(*grads)):  # the kernels never write into the gradient
        np.testing.assert_array_equal(p.grad.data, gs[-1])


def test_fused_adam_follows_nan_like_numpy():
    """A NaN gradient spreads into the parameter and the amsgrad maximum as np.maximum does."""
    out = []
    for numba in (False, True):
        p = dw.tensor(np.ones(4, np.float32), requires_grad=True)
        opt = optim.Adam([p], lr=0.1, amsgrad=True)
        with kernels.use_numba(numba):
            for g in ([1, np.nan, 2, 3], [1, 1, 1, 1]):
                p.grad = dw.tensor(np.array(g, np.float32))
                opt.step()
        out.append((p.data.copy(), opt.state[p]["max_exp_avg_sq"].copy()))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(out[1][1][1]) and np.isnan(out[1][0][1])


def test_fused_division_by_zero_gives_nan_like_numpy():
    """eps=0 and a zero gradient: 0/0 in the step. NumPy gives NaN; so must the kernel (numba's
    default error model would raise ZeroDivisionError)."""
    out = []
    for numba in (False, True):
        p = dw.tensor(np.ones(3, np.float32), requires_grad=True)
        opt = optim.Adam([p], lr=0.1, eps=0.0)
        p.grad = dw.tensor(np.array([0, 1, 0], np.float32))
        with kernels.use_numba(numba), np.errstate(invalid="ignore", divide="ignore"):
            opt.step()
        out.append(p.data.copy())
    np.testing.assert_array_equal(out[0], out[1])
    assert np.isnan(out[1][0]) and abs(out[1][1] - 0.9) < 1e-6  # 1 - lr * m^ / sqrt(v^)


def test_a_float32_training_step_stays_float32(kernel_path):
    """Linear, ReLU, cross-entropy and Adam: every parameter, gradient and optimizer state of a
    float32 model stays float32 on both paths (no silent float64 work)."""
    import deepwise.nn.functional as F
    from deepwise import nn
    model = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5))
    opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    x = dw.tensor(np.random.default_rng(0).random((16, 12), dtype=np.float32))
    y = dw.tensor(np.arange(16) % 5)
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        assert loss.dtype == np.float32
        loss.backward()
        opt.step()
    for p in model.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values()
                   if isinstance(v, np.ndarray))
    with pytest.raises(TypeError, match="input is float64 but weight is float32"):
        model(dw.tensor(np.zeros((2, 12))))  # float64 input: PyTorch's error, not float64 work
