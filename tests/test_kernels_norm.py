"""batch_norm through both paths (``kernel_path``: NumPy, and deepwise.kernels.norm), in every
memory layout it meets: conv2d's NCHW-shaped views of NHWC memory, contiguous NCHW, (N, C) and
(N, C, L). PyTorch parity of the output, the running statistics and every gradient, training and
eval, affine or not, track_running_stats False; float64 gradient checks; the two paths agree.
layer_norm the same way (its compiled path takes C-contiguous inputs)."""

import numpy as np
import pytest
from helpers import rand

import deepwise as dw
from deepwise import kernels, nn

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")

LAYOUTS = {  # name: (shape, memory order of the axes, as a permutation of the shape's axes)
    "nhwc": ((4, 3, 5, 6), (0, 2, 3, 1)),   # conv2d's output: NCHW-shaped, NHWC memory
    "nchw": ((4, 3, 5, 6), (0, 1, 2, 3)),
    "nc": ((7, 5), (0, 1)),
    "ncl": ((3, 4, 6), (0, 1, 2)),
    "nlc": ((3, 4, 6), (0, 2, 1)),          # channels adjacent in (N, C, L)
    "strided": ((4, 3, 5, 2), (3, 2, 1, 0)),  # no kernel view: the NumPy path in both runs
}


def _laid_out(a: np.ndarray, order: tuple) -> np.ndarray:
    """a's values, in memory ordered as ``order`` (a view with a's shape)."""
    return np.ascontiguousarray(a.transpose(order)).transpose(np.argsort(order))


def _layout_input(layout: str, dtype=np.float64, seed: int = 0, scale: float = 2.0,
                  offset: float = 0.5) -> np.ndarray:
    shape, order = LAYOUTS[layout]
    return _laid_out((rand(*shape, seed=seed) * scale + offset).astype(dtype), order)


def _took_kernel(y: dw.Tensor) -> bool:
    return y.grad_fn.view is not None


@needs_torch
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_module_follows_torch(kernel_path, layout, affine):
    """Three training steps and an eval step of nn.BatchNorm{1,2}d against PyTorch's: outputs,
    running statistics, num_batches_tracked and the gradients of x, weight and bias; the upstream
    gradient laid out unlike x on the second step (the kernel path copies it to x's layout)."""
    shape, _ = LAYOUTS[layout]
    c = shape[1]
    cls, tcls = ((nn.BatchNorm2d, torch.nn.BatchNorm2d) if len(shape) == 4
                 else (nn.BatchNorm1d, torch.nn.BatchNorm1d))
    m, tm = cls(c, affine=affine, momentum=0.3), tcls(c, affine=affine, momentum=0.3)
    if affine:
        m.weight.data[...] = rand(c, seed=5, low=0.5, high=1.5)
        m.bias.data[...] = rand(c, seed=6)
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(m.weight.data))
            tm.bias.copy_(torch.tensor(m.bias.data))
    for step in range(4):
        if step == 3:
            m.eval()
            tm.eval()
        xa = _layout_input(layout, np.float32, seed=step, scale=step + 1.0, offset=step - 1.0)
        x = dw.tensor(xa, requires_grad=True)
        tx = torch.tensor(np.ascontiguousarray(xa), requires_grad=True)
        y, ty = m(x), tm(tx)
        assert _took_kernel(y) == (kernel_path == "numba" and layout != "strided")
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
        ga = rand(*shape, seed=10 + step).astype(np.float32)
        if step == 1:
            ga = np.asfortranarray(ga)
        y.backward(dw.tensor(ga))
        ty.backward(torch.tensor(np.ascontiguousarray(ga)))
        np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        if affine:
            for p, tp in ((m.weight, tm.weight), (m.bias, tm.bias)):
                np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-4, atol=1e-4)
                p.grad = None
                tp.grad = None
        np.testing.assert_allclose(m.running_mean.data, tm.running_mean.numpy(), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(m.running_var.data, tm.running_var.numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert int(m.num_batches_tracked.data) == int(tm.num_batches_tracked) == 3


@needs_torch
@pytest.mark.parametrize("layout", ["nhwc", "nchw", "nc"])
def test_batch_norm_without_running_stats_follows_torch(kernel_path, layout):
    """track_running_stats=False: batch statistics in training and in eval, as PyTorch."""
    shape, _ = LAYOUTS[layout]
    cls, tcls = ((nn.BatchNorm2d, torch.nn.BatchNorm2d) if len(shape) == 4
                 else (nn.BatchNorm1d, torch.nn.BatchNorm1d))
    m, tm = cls(shape[1], track_running_stats=False), tcls(shape[1], track_running_stats=False)
    for train in (True, False):
        m.train(train)
        tm.train(train)
        xa = _layout_input(layout, np.float32, seed=int(train))
        x = dw.tensor(xa, requires_grad=True)
        tx = torch.tensor(np.ascontiguousarray(xa), requires_grad=True)
        y, ty = m(x), tm(tx)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
        ga = rand(*shape, seed=3).astype(np.float32)
        y.backward(dw.tensor(ga))
        ty.backward(torch.tensor(ga))
        np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(m.weight.grad.data, tm.weight.grad.numpy(), rtol=1e-4,
                                   atol=1e-4)
        m.weight.grad = None
        tm.weight.grad = None
    assert m.running_mean is None and m.running_var is None


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck_layouts(kernel_path, layout, training):
    """float64 central differences for x, weight and bias in each memory layout."""
    shape, _ = LAYOUTS[layout]
    c = shape[1]
    rm, rv = dw.tensor(rand(c, seed=3)), dw.tensor(rand(c, seed=4, low=0.5, high=2.0))
    x = dw.tensor(_layout_input(layout), requires_grad=True)
    w = dw.tensor(rand(c, seed=1), requires_grad=True)
    b = dw.tensor(rand(c, seed=2), requires_grad=True)
    dw.autograd.gradcheck(
        lambda x, w, b: dw.batch_norm(x, None if training else rm, None if training else rv,
                                      w, b, training=training), [x, w, b],
        eps=1e-6, atol=1e-5, rtol=1e-3)


@pytest.mark.skipif(not kernels.available(), reason="numba not installed")
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_kernel_matches_numpy_path(layout, dtype, training):
    """The compiled path and the NumPy reference agree (output, running statistics, gradients);
    the output keeps x's dtype and memory layout on both."""
    shape, _ = LAYOUTS[layout]
    c = shape[1]
    xa = _layout_input(layout, dtype)
    ga = rand(*shape, seed=7).astype(dtype)
    w, b = rand(c, seed=1).astype(dtype), rand(c, seed=2).astype(dtype)
    results = []
    for on in (False, True):
        rm = dw.tensor(rand(c, seed=3).astype(dtype))
        rv = dw.tensor(rand(c, seed=4, low=0.5, high=2.0).astype(dtype))
        x = dw.tensor(xa, requires_grad=True)
        wt, bt = dw.tensor(w, requires_grad=True), dw.tensor(b, requires_grad=True)
        with kernels.use_numba(on):
            y = dw.batch_norm(x, rm, rv, wt, bt, training=training, momentum=0.2)
            y.backward(dw.tensor(ga))
        assert y.dtype == dtype and x.grad.dtype == dtype and wt.grad.dtype == dtype
        assert y.data.strides == xa.strides or layout == "strided"
        results.append((y.data, x.grad.data, wt.grad.data, bt.grad.data, rm.data, rv.data))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for want, got in zip(*results):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("layout", ["nhwc", "nchw", "nc"])
def test_batch_norm_float32_large_mean_both_paths(kernel_path, layout):
    """float32 channels of mean 1000 and std 0.01 beside an ordinary one: values and gradients
    as the float64 computation, whichever path (one-pass statistics would lose every digit
    without the shift or the centring)."""
    rng = np.random.default_rng(0)
    shape, order = LAYOUTS[layout]
    a = 1000 + 0.01 * rng.standard_normal(shape)
    a[:, 1] = rng.standard_normal(a[:, 1].shape)
    x32 = _laid_out(a.astype(np.float32), order)
    g = rng.standard_normal(shape).astype(np.float32)
    wv = rng.uniform(0.5, 2.0, shape[1])
    outs = []
    for dtype in (np.float32, np.float64):
        x = dw.tensor(x32.astype(dtype), requires_grad=True)
        wt = dw.tensor(wv.astype(dtype), requires_grad=True)
        y = dw.batch_norm(x, None, None, wt, None, training=True)
        y.backward(dw.tensor(g.astype(dtype)))
        outs.append((y.data, x.grad.data, wt.grad.data))
    for got, want in zip(outs[0], outs[1]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ---- layer_norm ------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("shape,ns", [((4, 7, 16), (16,)), ((3, 5, 4, 6), (4, 6)), ((2, 9), 9)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_module_follows_torch(kernel_path, shape, ns, affine):
    """nn.LayerNorm against PyTorch's: output and the gradients of x, weight and bias, with an
    upstream gradient that is not C-contiguous (the kernel path copies it)."""
    m = nn.LayerNorm(ns, elementwise_affine=affine)
    tm = torch.nn.LayerNorm(ns, elementwise_affine=affine)
    if affine:
        wshape = tuple(m.weight.shape)
        m.weight.data[...] = rand(*wshape, seed=5, low=0.5, high=1.5)
        m.bias.data[...] = rand(*wshape, seed=6)
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(m.weight.data))
            tm.bias.copy_(torch.tensor(m.bias.data))
    xa = (rand(*shape) * 3 + 1).astype(np.float32)
    x = dw.tensor(xa, requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    y, ty = m(x), tm(tx)
    assert y.grad_fn.fast == (kernel_path == "numba")
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    ga = np.asfortranarray(rand(*shape, seed=2).astype(np.float32))
    y.backward(dw.tensor(ga))
    ty.backward(torch.tensor(np.ascontiguousarray(ga)))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    if affine:
        for p, tp in ((m.weight, tm.weight), (m.bias, tm.bias)):
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,ns", [((3, 4, 5), (5,)), ((2, 3, 4), (3, 4)), ((1, 6), 6)])
def test_layer_norm_gradcheck(kernel_path, shape, ns):
    wshape = (ns,) if isinstance(ns, int) else ns
    x = dw.tensor(rand(*shape) * 3, requires_grad=True)
    w = dw.tensor(rand(*wshape, seed=1), requires_grad=True)
    b = dw.tensor(rand(*wshape, seed=2), requires_grad=True)
    dw.autograd.gradcheck(lambda x, w, b: dw.layer_norm(x, ns, w, b), [x, w, b], eps=1e-6,
                          atol=1e-5, rtol=1e-3)


@pytest.mark.skipif(not kernels.available(), reason="numba not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_kernel_matches_numpy_path(dtype, affine):
    """The compiled path and the NumPy reference agree: output and every gradient, x's dtype."""
    xa = (rand(5, 6, 32) * 2 - 0.5).astype(dtype)
    ga = rand(5, 6, 32, seed=7).astype(dtype)
    w, b = rand(32, seed=1).astype(dtype), rand(32, seed=2).astype(dtype)
    results = []
    for on in (False, True):
        x = dw.tensor(xa, requires_grad=True)
        wt, bt = dw.tensor(w, requires_grad=True), dw.tensor(b, requires_grad=True)
        with kernels.use_numba(on):
            y = dw.layer_norm(x, 32, wt if affine else None, bt if affine else None)
            y.backward(dw.tensor(ga))
        assert y.dtype == dtype and x.grad.dtype == dtype
        results.append((y.data, x.grad.data) + ((wt.grad.data, bt.grad.data) if affine else ()))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for want, got in zip(*results):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_layer_norm_float32_large_mean_both_paths(kernel_path):
    """float32 rows of mean 100 and std 0.01: values and gradients as the float64 computation
    (to the float32 rounding of the mean, 4e-6 / 0.01, that PyTorch's float32 layer_norm has)."""
    rng = np.random.default_rng(0)
    x32 = (100 + 0.01 * rng.standard_normal((6, 64))).astype(np.float32)
    g = rng.standard_normal((6, 64)).astype(np.float32)
    outs = []
    for dtype in (np.float32, np.float64):
        x = dw.tensor(x32.astype(dtype), requires_grad=True)
        y = dw.layer_norm(x, 64)
        y.backward(dw.tensor(g.astype(dtype)))
        outs.append((y.data, x.grad.data))
    for got, want in zip(outs[0], outs[1]):  # dL/dx is ~invstd = 100 times g: to its scale
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())


@needs_torch
@pytest.mark.parametrize("shape", [(16, 8, 16, 16), (10, 16, 15, 13)])
def test_batch_norm_large_channels_last_follows_torch(kernel_path, shape):
    """Inputs large enough for the NumPy path's wide (M / k, k * C) rows (k = 256 and an odd
    k = 78 here): output, running statistics and gradients as PyTorch's."""
    import torch.nn.functional as F
    n, c, h, w = shape
    xa = _laid_out((rand(*shape) * 3 + 2).astype(np.float32), (0, 2, 3, 1))
    ga = _laid_out(rand(*shape, seed=1).astype(np.float32), (0, 2, 3, 1))
    wv, bv = rand(c, seed=2).astype(np.float32), rand(c, seed=3).astype(np.float32)
    rm, rv = dw.zeros(c), dw.ones(c)
    trm, trv = torch.zeros(c), torch.ones(c)
    x, wt, bt = (dw.tensor(a, requires_grad=True) for a in (xa, wv, bv))
    tx, twt, tbt = (torch.tensor(np.ascontiguousarray(a), requires_grad=True)
                    for a in (xa, wv, bv))
    y = dw.batch_norm(x, rm, rv, wt, bt, training=True)
    ty = F.batch_norm(tx, trm, trv, twt, tbt, training=True)
    y.backward(dw.tensor(ga))
    ty.backward(torch.tensor(np.ascontiguousarray(ga)))
    for got, want in ((y, ty), (x.grad, tx.grad), (wt.grad, twt.grad), (bt.grad, tbt.grad),
                      (rm, trm), (rv, trv)):
        want = want.detach().numpy()
        np.testing.assert_allclose(got.data, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
