"""batch_norm, layer_norm, group_norm, dropout2d: gradient checks, PyTorch parity (values,
gradients, running statistics) and dropout statistics."""

import numpy as np
import pytest
from helpers import check_op, rand

import deepwise as dw
from deepwise.autograd import ShapeError

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = F = None


@pytest.mark.parametrize("shape", [(4, 3, 5, 2), (5, 3), (3, 2, 7), (1, 3, 2, 3)])
def test_batch_norm_training_values_and_grads(kernel_path, shape):
    x = rand(*shape) * 2 + 0.5
    w, b = rand(shape[1], seed=1), rand(shape[1], seed=2)
    check_op(lambda x, w, b: dw.batch_norm(x, None, None, w, b, training=True), [x, w, b],
             lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), atol=1e-5)


def test_batch_norm_no_affine_noncontiguous(kernel_path):
    x = rand(5, 4, 3, 2).transpose(3, 2, 1, 0)  # (2, 3, 4, 5), a transposed view
    check_op(lambda x: dw.batch_norm(x, None, None, training=True, eps=1e-3), [x],
             lambda x: F.batch_norm(x, None, None, training=True, eps=1e-3), atol=1e-5)


def test_batch_norm_after_conv_channels_last(kernel_path):
    x, k = rand(3, 2, 5, 4), rand(4, 2, 3, 3, seed=1)
    check_op(lambda x, k: dw.batch_norm(dw.conv2d(x, k), None, None, training=True), [x, k],
             lambda x, k: F.batch_norm(F.conv2d(x, k), None, None, training=True), atol=1e-5)


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_batch_norm_running_stats_follow_torch(kernel_path, momentum):
    """Three training steps update running_mean/var in place exactly as PyTorch (unbiased
    variance); eval then uses them."""
    c = 3
    rm, rv = dw.zeros(c), dw.ones(c)
    trm, trv = torch.zeros(c), torch.ones(c)
    for step in range(3):
        x = (rand(6, c, 4, 3, seed=step) * (step + 1) + step).astype(np.float32)
        y = dw.batch_norm(dw.tensor(x), rm, rv, training=True, momentum=momentum)
        ty = F.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=momentum)
        np.testing.assert_allclose(y.data, ty.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(rm.data, trm.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(rv.data, trv.numpy(), rtol=1e-6, atol=1e-6)
    assert rv.data[0] != 1.0 and rm.data[0] != 0.0
    x = rand(2, c, 3, 3, seed=9).astype(np.float32)
    np.testing.assert_allclose(dw.batch_norm(dw.tensor(x), rm, rv).data,
                               F.batch_norm(torch.tensor(x), trm, trv).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_batch_norm_eval_after_conv_channels_last(kernel_path):
    rm, rv = rand(4, seed=3), rand(4, seed=4, low=0.5, high=2.0)
    trm, trv = (torch.tensor(v, dtype=torch.float32) if torch else None for v in (rm, rv))
    check_op(lambda x, k, w: dw.batch_norm(dw.conv2d(x, k), dw.tensor(rm), dw.tensor(rv), w),
             [rand(3, 2, 5, 4), rand(4, 2, 3, 3, seed=1), rand(4, seed=2)],
             lambda x, k, w: F.batch_norm(F.conv2d(x, k), trm, trv, w), atol=1e-5)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_batch_norm_float32_large_mean_is_exact(kernel_path, layout):
    """float32, mean 1000 and std 0.01 per channel: the one-pass variance E[x^2] - mean^2 would
    lose every digit, so those channels take the two-pass form; values and gradients as a
    float64 reference, in both memory layouts."""
    rng = np.random.default_rng(0)
    a = (1000 + 0.01 * rng.standard_normal((16, 6, 6, 3))).astype(np.float32)
    a[..., 1] = rng.standard_normal((16, 6, 6))  # an ordinary channel beside them
    x32 = a.transpose(0, 3, 1, 2) if layout == "nhwc" else np.ascontiguousarray(
        a.transpose(0, 3, 1, 2))
    g = rng.standard_normal(x32.shape).astype(np.float32)
    w = np.array([0.5, 2.0, -1.0], np.float32)
    outs = []
    for dtype in (np.float32, np.float64):
        x = dw.tensor(x32.astype(dtype), requires_grad=True)
        wt = dw.tensor(w.astype(dtype), requires_grad=True)
        y = dw.batch_norm(x, None, None, wt, None, training=True)
        y.backward(dw.tensor(g.astype(dtype)))
        outs.append((y.data, x.grad.data, wt.grad.data))
    for got, want in zip(outs[0], outs[1]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(3, 4, 2, 5), (4, 4)])
def test_batch_norm_eval(kernel_path, shape):
    rm, rv = rand(4, seed=3), rand(4, seed=4, low=0.5, high=2.0)
    trm, trv = (torch.tensor(v, dtype=torch.float32) if torch else None for v in (rm, rv))
    w, b = rand(4, seed=1), rand(4, seed=2)
    check_op(lambda x, w, b: dw.batch_norm(x, dw.tensor(rm), dw.tensor(rv), w, b),
             [rand(*shape), w, b],
             lambda x, w, b: F.batch_norm(x, trm, trv, w, b))


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        dw.batch_norm(dw.zeros(1, 3), None, None, training=True)
    with pytest.raises(ShapeError, match=r"batch_norm: expected weight of shape \(3,\) for input "
                       r"\(2, 3, 4\), got \(4,\)"):
        dw.batch_norm(dw.zeros(2, 3, 4), None, None, dw.ones(4), training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        dw.batch_norm(dw.zeros(2, 3), None, None)


@pytest.mark.parametrize("shape,ns", [((2, 3, 5), (5,)), ((2, 3, 4), (3, 4)), ((1, 6), 6)])
def test_layer_norm(kernel_path, shape, ns):
    wshape = (ns,) if isinstance(ns, int) else ns
    x, w, b = rand(*shape) * 3, rand(*wshape, seed=1), rand(*wshape, seed=2)
    check_op(lambda x, w, b: dw.layer_norm(x, ns, w, b), [x, w, b],
             lambda x, w, b: F.layer_norm(x, wshape, w, b), atol=1e-5)


def test_layer_norm_no_affine_noncontiguous(kernel_path):
    x = rand(6, 4, 2).transpose(2, 1, 0)  # (2, 4, 6)
    check_op(lambda x: dw.layer_norm(x, (4, 6), eps=1e-3), [x],
             lambda x: F.layer_norm(x, (4, 6), eps=1e-3), atol=1e-5)
    with pytest.raises(ShapeError, match=r"layer_norm: expected input \(\*, 5\) ending in "
                       r"normalized_shape \(5,\), got \(2, 4\)"):
        dw.layer_norm(dw.zeros(2, 4), 5)


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 2), 3), ((3, 4, 5), 2), ((1, 4), 2),
                                          ((2, 4, 2, 3), 1)])
def test_group_norm(shape, groups):
    x, w, b = rand(*shape) * 2, rand(shape[1], seed=1), rand(shape[1], seed=2)
    check_op(lambda x, w, b: dw.group_norm(x, groups, w, b), [x, w, b],
             lambda x, w, b: F.group_norm(x, groups, w, b), atol=1e-5)


def test_group_norm_no_affine_and_errors():
    check_op(lambda x: dw.group_norm(x, 2), [rand(2, 4, 3, 3)], lambda x: F.group_norm(x, 2),
             atol=1e-5)
    with pytest.raises(ShapeError, match=r"group_norm: num_groups 4 must divide the 6 channels"):
        dw.group_norm(dw.zeros(2, 6, 3), 4)
    with pytest.raises(ValueError, match=r"group_norm: expected more than 1 value per group"):
        dw.group_norm(dw.zeros(1, 4), 4)


def test_dropout2d_drops_whole_channels_with_rate_p():
    dw.manual_seed(0)
    p = 0.3
    x = dw.ones(64, 50, 3, 4, requires_grad=True)
    y = dw.dropout2d(x, p)
    planes = y.data.reshape(64, 50, -1)
    kept = planes[:, :, 0] != 0
    assert np.all(planes == planes[:, :, :1])                  # whole channels
    np.testing.assert_allclose(planes[kept], 1 / (1 - p), rtol=1e-6)
    assert abs((1 - kept.mean()) - p) < 0.03                   # 3200 draws: sd ~ 0.008
    assert abs(y.data.mean() - 1.0) < 0.05                     # unbiased in expectation
    y.backward(dw.ones(*y.shape))
    np.testing.assert_array_equal(x.grad.data, y.data)         # dL/dx = the scaled mask


def test_dropout2d_seeded_eval_and_edges():
    x = dw.tensor(rand(2, 3, 4).astype(np.float32))           # 3-d: (N, C, L)
    dw.manual_seed(5)
    a = dw.dropout2d(x, 0.5).data
    dw.manual_seed(5)
    np.testing.assert_array_equal(a, dw.dropout2d(x, 0.5).data)
    assert np.all((a == 0).all(axis=2) | (a != 0).all(axis=2))
    assert dw.dropout2d(x, 0.5, training=False) is x
    assert dw.dropout2d(x, 0.0) is x
    assert np.all(dw.dropout2d(x, 1.0).data == 0)
    with pytest.raises(ValueError, match="p must be between 0 and 1"):
        dw.dropout2d(x, 1.5)
    with pytest.raises(ShapeError, match="dropout2d: expected input"):
        dw.dropout2d(dw.zeros(3, 4), 0.5)


def test_dropout2d_gradcheck():
    def fn(x):
        dw.manual_seed(3)  # the same mask on every call of the finite-difference check
        return dw.dropout2d(x, 0.4)
    check_op(fn, [rand(3, 4, 2, 2)])
