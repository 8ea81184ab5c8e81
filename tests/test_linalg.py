"""matmul (every batching rule), bmm and linear: float64 gradient checks and PyTorch parity."""

import numpy as np
import pytest
from helpers import check_op, rand, torch

import deepwise as dw
from deepwise.autograd import ShapeError

MATMUL_CASES = {
    "1d@1d": ((3,), (3,)),
    "1d@2d": ((3,), (3, 4)),
    "2d@1d": ((2, 3), (3,)),
    "2d@2d": ((2, 3), (3, 4)),
    "batched@2d": ((2, 3, 4), (4, 5)),
    "batched@1d": ((2, 3, 4), (4,)),
    "1d@batched": ((4,), (2, 4, 3)),
    "2d@batched": ((3, 4), (2, 4, 5)),
    "batched@batched": ((2, 3, 4), (2, 4, 2)),
    "broadcast-batches": ((2, 1, 3, 4), (5, 4, 2)),
    "size-1-batch-broadcast": ((1, 2, 3), (4, 3, 2)),
    "batch-of-1": ((1, 2, 3), (1, 3, 2)),
    "4d@2d": ((2, 2, 3, 4), (4, 1)),
}


@pytest.mark.parametrize("sa,sb", MATMUL_CASES.values(), ids=MATMUL_CASES.keys())
def test_matmul(sa, sb):
    a, b = rand(*sa, seed=1), rand(*sb, seed=2)
    check_op(lambda x, y: x @ y, [a, b], lambda x, y: x @ y)
    check_op(dw.matmul, [a, b], torch.matmul if torch else None, grad=[True, False])
    check_op(lambda x, y: x.matmul(y), [a, b], lambda x, y: x.matmul(y), grad=[False, True])


def test_matmul_non_contiguous_inputs():
    a, b = rand(4, 3, seed=1).T, rand(5, 4, seed=2).T  # (3, 4) @ (4, 5), both transposed views
    check_op(lambda x, y: x @ y, [a, b], lambda x, y: x @ y)
    a3 = rand(4, 2, 3, seed=3).transpose(1, 2, 0)  # (2, 3, 4), non-contiguous batch
    check_op(lambda x, y: x @ y, [a3, b], lambda x, y: x @ y)
    check_op(lambda x, y: x @ y, [a3, rand(2, 3, 4, seed=4).transpose(0, 2, 1)],
             lambda x, y: x @ y)


def test_matmul_with_numpy_operand_and_float32_speed_path():
    a = rand(3, 4)
    w = np.asarray(rand(4, 2, seed=1), np.float32)
    x = dw.tensor(a, dtype=dw.float32, requires_grad=True)
    y = x @ w  # a plain array on the right is a constant
    assert y.shape == (3, 2) and y.dtype == dw.float32
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.broadcast_to(w.sum(1), (3, 4)), rtol=1e-6)
    # the folded batch GEMM gives the same numbers as np.matmul
    big = dw.tensor(rand(6, 5, 4, seed=7), dtype=dw.float32)
    np.testing.assert_allclose((big @ dw.tensor(w)).data, np.matmul(big.data, w), rtol=1e-6)


def test_matmul_shape_errors():
    a, b = dw.zeros(128, 784), dw.zeros(256, 10)
    with pytest.raises(ShapeError) as e:
        a @ b
    assert str(e.value) == "matmul: (128, 784) @ (256, 10): inner dimensions differ (784 vs 256)"
    with pytest.raises(ShapeError, match=r"matmul: \(3,\) @ \(4,\): inner dimensions differ"):
        dw.matmul(dw.zeros(3), dw.zeros(4))
    with pytest.raises(ShapeError, match=r"batch dimensions \(2,\) and \(3,\) do not broadcast"):
        dw.zeros(2, 3, 4) @ dw.zeros(3, 4, 5)
    with pytest.raises(ShapeError, match="at least 1 dimension"):
        dw.matmul(dw.tensor(2.0), dw.zeros(3))


def test_bmm():
    a, b = rand(2, 3, 4, seed=1), rand(2, 4, 5, seed=2)
    check_op(dw.bmm, [a, b], torch.bmm if torch else None)
    check_op(lambda x, y: x.bmm(y), [rand(1, 2, 3), rand(1, 3, 1, seed=3)],
             lambda x, y: x.bmm(y))
    check_op(dw.bmm, [rand(2, 4, 3, seed=4).transpose(0, 2, 1), b],
             torch.bmm if torch else None)
    with pytest.raises(ShapeError, match=r"bmm: expected \(B, n, k\) and \(B, k, m\) with the "
                                         r"same B, got \(3, 4\) and \(2, 4, 5\)"):
        dw.bmm(dw.zeros(3, 4), dw.zeros(2, 4, 5))
    with pytest.raises(ShapeError, match=r"bmm: .*got \(2, 3, 4\) and \(3, 4, 5\)"):
        dw.bmm(dw.zeros(2, 3, 4), dw.zeros(3, 4, 5))
    with pytest.raises(ShapeError, match=r"bmm: \(2, 3, 4\) @ \(2, 5, 5\): inner dimensions "
                                         r"differ \(4 vs 5\)"):
        dw.bmm(dw.zeros(2, 3, 4), dw.zeros(2, 5, 5))


def _torch_linear(*args):
    return torch.nn.functional.linear(*args)


@pytest.mark.parametrize("xshape", [(4, 3), (2, 4, 3), (3,), (1, 3), (2, 1, 2, 3)],
                         ids=["2d", "3d", "1d", "batch1", "4d"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_linear(xshape, bias):
    x, w = rand(*xshape, seed=1), rand(5, 3, seed=2)
    args = [x, w, rand(5, seed=3)] if bias else [x, w]
    check_op(dw.linear, args, _torch_linear)
    # only some inputs needing a gradient (frozen weights, or a constant input)
    check_op(dw.linear, args, _torch_linear, grad=[False, True] + [True] * bias)
    check_op(dw.linear, args, _torch_linear, grad=[True, False] + [False] * bias)


def test_linear_non_contiguous():
    x = rand(3, 4, seed=1).T  # (4, 3) transposed view
    w = rand(3, 5, seed=2).T  # (5, 3) transposed view
    check_op(dw.linear, [x, w, rand(5, seed=3)], _torch_linear)
    x3 = rand(3, 2, 4, seed=4).transpose(1, 2, 0)  # (2, 4, 3) non-contiguous
    check_op(dw.linear, [x3, w], _torch_linear)


def test_linear_matches_matmul_plus_bias():
    x, w, b = (dw.tensor(rand(*s, seed=i), requires_grad=True)
               for i, s in enumerate([(2, 3, 4), (6, 4), (6,)]))
    fused = dw.linear(x, w, b)
    composed = x @ w.T + b
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-6)
    gy = rand(2, 3, 6, seed=9).astype(np.float32)
    grads = []
    for y in (fused, composed):
        for t in (x, w, b):
            t.grad = None
        y.backward(dw.tensor(gy))
        grads.append([t.grad.data.copy() for t in (x, w, b)])
    for g1, g2 in zip(*grads):
        np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-6)


def test_linear_shape_errors():
    w = dw.zeros(10, 256)
    with pytest.raises(ShapeError) as e:
        dw.linear(dw.zeros(128, 128), w)
    assert str(e.value) == "linear: expected input (..., 256) for weight (10, 256), got (128, 128)"
    with pytest.raises(ShapeError, match=r"linear: bias has shape \(5,\), expected \(10,\)"):
        dw.linear(dw.zeros(2, 256), w, dw.zeros(5))
    with pytest.raises(ShapeError, match=r"linear: expected input \(\.\.\., \?\) for weight "
                                         r"\(256,\)"):
        dw.linear(dw.zeros(2, 256), dw.zeros(256))
