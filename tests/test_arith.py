"""Element-wise arithmetic: float64 gradient checks and PyTorch parity, with broadcasting."""

import numpy as np
import pytest
from helpers import check_op, rand, torch

import deepwise as dw

A = rand(3, 4)
ROW = rand(4, seed=1)
COL = rand(3, 1, seed=2)
POS = rand(3, 4, seed=3, low=0.5, high=2.0)
T = rand(4, 3, seed=4).T  # non-contiguous (transposed view)

BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / (b + 3.0)),
]


@pytest.mark.parametrize("name,f", BINARY)
@pytest.mark.parametrize("shapes", [(A, ROW), (A, COL), (COL, ROW), (T, A), (rand(1, 4), ROW)])
def test_binary_broadcasting(name, f, shapes):
    check_op(f, list(shapes), f)


@pytest.mark.parametrize("name,f", BINARY)
def test_binary_with_python_scalars(name, f):
    check_op(lambda a: f(a, 2.5), [A], lambda a: f(a, 2.5))
    check_op(lambda a: f(1.5, a + 4.0), [A], lambda a: f(1.5, a + 4.0))


UNARY = [
    ("neg", lambda x: -x, lambda x: -x, A),
    ("abs", lambda x: abs(x), lambda x: abs(x), A),
    ("exp", lambda x: x.exp(), lambda x: x.exp(), A),
    ("log", lambda x: x.log(), lambda x: x.log(), POS),
    ("log1p", lambda x: x.log1p(), lambda x: x.log1p(), POS),
    ("sqrt", lambda x: x.sqrt(), lambda x: x.sqrt(), POS),
    ("rsqrt", lambda x: x.rsqrt(), lambda x: x.rsqrt(), POS),
    ("sin", lambda x: x.sin(), lambda x: x.sin(), A),
    ("cos", lambda x: x.cos(), lambda x: x.cos(), A),
    ("square", lambda x: x.square(), lambda x: x.square(), A),
    ("reciprocal", lambda x: x.reciprocal(), lambda x: x.reciprocal(), POS),
    ("pow_const", lambda x: x ** 3, lambda x: x ** 3, A),
    ("pow_frac", lambda x: x ** 0.5, lambda x: x ** 0.5, POS),
    ("rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, A),
    ("clone", lambda x: x.clone() * 2, lambda x: x.clone() * 2, T),
]


@pytest.mark.parametrize("name,f,tf,x", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, f, tf, x):
    check_op(f, [x], tf)


def test_pow_tensor_exponent():
    check_op(lambda a, b: a ** b, [POS, ROW], lambda a, b: a ** b)


def test_clamp():
    x = rand(5, 6, seed=7) * 2  # avoid the kinks at exactly the bounds
    check_op(lambda t: t.clamp(-0.55, 0.75), [x], lambda t: t.clamp(-0.55, 0.75))
    check_op(lambda t: dw.clamp(t, min=0.1), [x], lambda t: torch.clamp(t, min=0.1))
    check_op(lambda t: dw.clip(t, max=0.1), [x], lambda t: torch.clip(t, max=0.1))
    with pytest.raises(ValueError, match="at least one"):
        dw.clamp(dw.tensor([1.0]))


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum(op):
    a, b = rand(3, 4, seed=8), rand(4, seed=9)
    check_op(lambda x, y: getattr(dw, op)(x, y), [a, b], lambda x, y: getattr(torch, op)(x, y))


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_gradient(op):
    a = dw.tensor([1.0, 2.0], requires_grad=True)
    b = dw.tensor([1.0, 3.0], requires_grad=True)
    getattr(dw, op)(a, b).sum().backward()
    if op == "maximum":
        np.testing.assert_allclose(a.grad.data, [0.5, 0.0])
        np.testing.assert_allclose(b.grad.data, [0.5, 1.0])
    else:
        np.testing.assert_allclose(a.grad.data, [0.5, 1.0])
        np.testing.assert_allclose(b.grad.data, [0.5, 0.0])


def test_where_and_masked_fill():
    cond = rand(3, 4, seed=10) > 0
    check_op(lambda a, b: dw.where(dw.tensor(cond), a, b), [A, ROW],
             lambda a, b: torch.where(torch.tensor(cond), a, b))
    mask = rand(4, seed=11) > 0
    check_op(lambda a: a.masked_fill(dw.tensor(mask), -2.0), [A],
             lambda a: a.masked_fill(torch.tensor(mask), -2.0))
    with pytest.raises(TypeError, match="bool"):
        dw.where(dw.tensor([1.0]), dw.tensor([1.0]), dw.tensor([2.0]))
    with pytest.raises(ValueError, match="does not broadcast"):
        dw.tensor(A).masked_fill(dw.tensor(np.ones(3, bool)), 0.0)


def test_batch_of_one_and_scalar_tensors():
    check_op(lambda a, b: a * b + a, [rand(1, 4), rand(1, 1, seed=3)], lambda a, b: a * b + a)
    check_op(lambda a, b: a / (b + 2.0), [np.array(0.7), rand(2, 2)], lambda a, b: a / (b + 2.0))


def test_comparisons_are_boolean_and_not_differentiable():
    x = dw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert r.dtype == dw.bool_ and not r.requires_grad
    assert (x > 1.5).tolist() == [False, True, True]
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]
    assert (~(x > 1)).tolist() == [True, False, False]


def test_dtype_promotion_follows_pytorch():
    f = dw.tensor([1.0, 2.0])
    i = dw.tensor([1, 2])
    assert (f + i).dtype == dw.float32  # NumPy alone would give float64
    assert (f * np.float64(2.0)).dtype == dw.float32  # NumPy scalars are weak, as in PyTorch
    assert (i + 1).dtype == dw.int64
    assert (f.double() + f).dtype == dw.float64


def test_numpy_array_on_the_left_gives_a_tensor():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([2.0, 3.0], dtype=np.float32) * x
    assert isinstance(y, dw.Tensor) and y.requires_grad
