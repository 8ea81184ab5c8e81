"""Reductions: float64 gradient checks and PyTorch parity for every reduce op, over dims
None / 0 / -1 / tuples, keepdim, size-1 axes, transposed inputs and one-element tensors."""

import math
import warnings

import numpy as np
import pytest
from helpers import SKIP_TORCH, check_op, rand, torch

import deepwise as dw
from deepwise.autograd import ShapeError

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

# (input array, dim, keepdim): odd sizes, a size-1 axis, a transposed view, one element, 0-d
CASES = [
    (rand(2, 3, 4), None, False),
    (rand(2, 3, 4), 0, False),
    (rand(2, 3, 4), -1, True),
    (rand(2, 3, 4), (0, 2), False),
    (rand(2, 3, 4), (-1, 1), True),
    (rand(3, 1, 4), 1, False),
    (rand(3, 1, 4), None, True),
    (rand(4, 3).T, 0, False),
    (rand(4, 3).T, 1, True),
    (rand(4, 3, 2).transpose(2, 0, 1), (0, 2), False),
    (rand(1), 0, False),
    (rand(1, 1), None, False),
    (np.array(0.7), None, False),
]
IDS = [f"{x.shape}{'T' if not x.flags.c_contiguous else ''}-dim{d}-keep{k}" for x, d, k in CASES]


@pytest.mark.parametrize("x,dim,keepdim", CASES, ids=IDS)
def test_sum_mean(x, dim, keepdim):
    check_op(lambda t: t.sum(dim, keepdim=keepdim), [x], lambda t: t.sum(dim, keepdim=keepdim))
    check_op(lambda t: t.mean(dim, keepdim=keepdim), [x], lambda t: t.mean(dim, keepdim=keepdim))
    check_op(lambda t: dw.sum(t, dim=dim, keepdim=keepdim), [x],
             lambda t: torch.sum(t, dim=dim, keepdim=keepdim))


@pytest.mark.parametrize("x,dim,keepdim", CASES, ids=IDS)
def test_amax_amin_prod_logsumexp_norm(x, dim, keepdim):
    d = () if dim is None else dim
    check_op(lambda t: t.amax(d, keepdim), [x], lambda t: t.amax(d, keepdim))
    check_op(lambda t: t.amin(d, keepdim), [x], lambda t: t.amin(d, keepdim))
    check_op(lambda t: t.logsumexp(d, keepdim), [x],
             lambda t: t.logsumexp(tuple(range(t.ndim)) if d == () else d, keepdim))
    check_op(lambda t: t.norm(dim=dim, keepdim=keepdim), [x],
             lambda t: t.norm(dim=dim, keepdim=keepdim))
    if dim is None or isinstance(dim, int):  # torch.prod takes one dim
        check_op(lambda t: t.prod(dim, keepdim=keepdim), [x],  # torch: prod() has no keepdim
                 (lambda t: t.prod().reshape((1,) * t.ndim if keepdim else ()))
                 if dim is None else (lambda t: t.prod(dim, keepdim)))


def _reduced_size(x, dim):
    return x.size if dim is None else math.prod(
        x.shape[d] for d in ((dim,) if isinstance(dim, int) else dim))


# (x, dim, keepdim, correction) for the inputs of more than one element, split by whether any
# degree of freedom is left (n - correction > 0): those without one give inf or nan
VAR_CASES = [(x, d, k, c, f"{i}-corr{c}") for (x, d, k), i in zip(CASES, IDS) if x.size > 1
             for c in (0, 1, 2)]
VAR_DOF = [c for c in VAR_CASES if _reduced_size(c[0], c[1]) - c[3] > 0]
VAR_NO_DOF = [c for c in VAR_CASES if _reduced_size(c[0], c[1]) - c[3] <= 0]


@pytest.mark.parametrize("x,dim,keepdim,correction", [c[:4] for c in VAR_DOF],
                         ids=[c[4] for c in VAR_DOF])
def test_var_std(x, dim, keepdim, correction):
    check_op(lambda t: t.var(dim, keepdim=keepdim, correction=correction), [x],
             lambda t: t.var(dim, keepdim=keepdim, correction=correction))
    check_op(lambda t: t.std(dim, keepdim=keepdim, correction=correction), [x],
             lambda t: t.std(dim, keepdim=keepdim, correction=correction))


@pytest.mark.parametrize("x,dim,keepdim,correction", [c[:4] for c in VAR_NO_DOF],
                         ids=[c[4] for c in VAR_NO_DOF])
def test_var_std_without_degrees_of_freedom(x, dim, keepdim, correction):
    """sum of squares / max(0, n - correction): inf, or nan where the sum is 0 (PyTorch's)."""
    assert len(VAR_NO_DOF) == 3  # (3, 1, 4) over dim 1 with correction 1 and 2, (2, 3, 4) / 2
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    x32 = x.astype(np.float32)
    ss = ((x32 - x32.mean(axis, keepdims=True)) ** 2).sum(axis, keepdims=keepdim)
    expected = np.where(ss == 0, np.nan, np.inf).astype(np.float32)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        var = dw.tensor(x32).var(dim, keepdim=keepdim, correction=correction)
        std = dw.tensor(x32).std(dim, keepdim=keepdim, correction=correction)
        np.testing.assert_array_equal(var.data, expected)
        np.testing.assert_array_equal(std.data, expected)
        if torch is None:
            pytest.skip(SKIP_TORCH)
        t = torch.tensor(x32).var(dim, keepdim=keepdim, correction=correction)
        np.testing.assert_array_equal(var.data, t.numpy())


def test_var_std_unbiased_forms():
    x = rand(3, 5)
    check_op(lambda t: t.var(1, False), [x], lambda t: t.var(1, False))
    check_op(lambda t: t.std(0, unbiased=True, keepdim=True), [x],
             lambda t: t.std(0, unbiased=True, keepdim=True))
    check_op(lambda t: t.var(False), [x], lambda t: t.var(False))  # PyTorch's legacy form
    check_op(lambda t: dw.std(t), [x], lambda t: torch.std(t))
    with pytest.raises(ValueError, match="either unbiased= or correction="):
        dw.var(dw.tensor(x), 0, unbiased=True, correction=1)
    with pytest.raises(TypeError, match="var: expected a floating-point tensor"):
        dw.tensor([1, 2, 3]).var()


@needs_torch
def test_var_std_edge_cases_match_torch():
    # one element with correction=1: 0/0 = nan; correction above n: inf; as PyTorch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for corr in (1, 5):
            a = dw.tensor([[1.0, 2.0, 4.0]]).var(0 if corr == 1 else None, correction=corr)
            b = torch.tensor([[1.0, 2.0, 4.0]]).var(0 if corr == 1 else None, correction=corr)
            np.testing.assert_array_equal(a.data, b.numpy())
    # std of a constant: its gradient is 0 (not nan), as PyTorch
    check_op(lambda t: t.std(1), [np.full((2, 3), 0.5)], lambda t: t.std(1), check_grad=False)


@pytest.mark.parametrize("x,dim,keepdim", [c for c in CASES if c[1] is None or
                                           isinstance(c[1], int)],
                         ids=[i for i, c in zip(IDS, CASES) if c[1] is None or
                              isinstance(c[1], int)])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min(x, dim, keepdim, op):
    if dim is None:
        check_op(lambda t: getattr(t, op)(), [x], lambda t: getattr(t, op)())
    else:
        check_op(lambda t: getattr(t, op)(dim, keepdim), [x],
                 lambda t: tuple(getattr(t, op)(dim, keepdim)))
        check_op(lambda t: getattr(dw, op)(t, dim=dim, keepdim=keepdim).values, [x],
                 lambda t: getattr(torch, op)(t, dim=dim, keepdim=keepdim).values)


def test_max_returns_named_tuple_with_int64_indices():
    x = dw.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]], requires_grad=True)
    r = x.max(1)
    assert r._fields == ("values", "indices")
    values, indices = r
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    assert indices.dtype == np.int64 and not indices.requires_grad
    assert x.min(dim=0, keepdim=True).indices.shape == (1, 3)
    assert repr(r).startswith("max(values=tensor(")
    # the two-tensor form is the element-wise maximum
    assert dw.max(x, dw.tensor([2.0, 2.0, 2.0])).tolist() == [[2.0, 5.0, 2.0], [7.0, 2.0, 7.0]]
    assert dw.tensor([3, 9, 4]).max().item() == 9  # integers work, without a graph


@needs_torch
@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_ties_split_gradient_as_torch(op):
    # full reductions and amax/amin share the gradient evenly between tied extrema; max(dim)
    # and min(dim) send it all to the returned index
    x = np.array([[1.0, 3.0, 3.0], [3.0, -2.0, -2.0], [0.5, 0.5, 0.5]])
    check_op(lambda t: getattr(t, op)(), [x], lambda t: getattr(t, op)(), check_grad=False)
    if op in ("max", "min"):
        check_op(lambda t: getattr(t, op)(1)[0], [x], lambda t: getattr(t, op)(1)[0],
                 check_grad=False)
        check_op(lambda t: getattr(t, op)(0)[0], [x.T], lambda t: getattr(t, op)(0)[0],
                 check_grad=False)
    else:
        check_op(lambda t: getattr(t, op)(1), [x], lambda t: getattr(t, op)(1), check_grad=False)
        check_op(lambda t: getattr(t, op)((0, 1), True), [x],
                 lambda t: getattr(t, op)((0, 1), True), check_grad=False)


@needs_torch
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(op):
    x = rand(4, 5, 3)
    ties = np.array([[2.0, 7.0, 7.0, 1.0], [0.0, 0.0, -1.0, -1.0]])
    for a in (x, x.transpose(1, 2, 0), ties, rand(1), np.array(0.5)):
        dims = [None, 0, -1] if a.ndim else [None, 0]
        for dim in dims:
            for keepdim in (False, True):
                got = getattr(dw.tensor(a), op)(dim, keepdim)
                want = getattr(torch.tensor(a), op)(dim, keepdim)
                assert got.dtype == np.int64 and got.shape == tuple(want.shape)
                np.testing.assert_array_equal(got.data, want.numpy())


def test_logsumexp_is_stable():
    big = np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1001.0, -1000.0]])
    check_op(lambda t: dw.logsumexp(t, 1), [big], lambda t: torch.logsumexp(t, 1))
    x = dw.tensor([[-math.inf, -math.inf], [0.0, -math.inf]])
    assert dw.logsumexp(x, 1).tolist() == [-math.inf, 0.0]
    assert dw.logsumexp(dw.tensor([math.inf, 1.0]), 0).item() == math.inf
    # integers are promoted to the default float dtype, as in PyTorch
    assert dw.logsumexp(dw.tensor([1, 2]), 0).dtype == dw.float32


@pytest.mark.parametrize("x", [
    np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [1.5, 2.0, -3.0]]),  # one zero, two, none
    np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [1.5, 2.0, -3.0]]).T,
    np.array([[0.0, 0.5], [0.7, -0.2]]),
], ids=["rows", "transposed", "single-zero"])
def test_prod_with_zeros(x):
    for dim in (None, 0, 1):
        check_op(lambda t, dim=dim: t.prod(dim), [x],
                 (lambda t: t.prod()) if dim is None else (lambda t, dim=dim: t.prod(dim)))
    check_op(lambda t: t.prod(1, keepdim=True), [x], lambda t: t.prod(1, keepdim=True))


@pytest.mark.parametrize("p", [2, "fro", 1, math.inf, -math.inf, 3, 0.5, -1.5])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (-1, True), ((0, 1), False)])
def test_norm(p, dim, keepdim):
    x = rand(3, 4, seed=3)
    check_op(lambda t: t.norm(p, dim, keepdim), [x], lambda t: t.norm(p, dim, keepdim),
             rtol=1e-4)
    check_op(lambda t: dw.norm(t, p=p, dim=dim, keepdim=keepdim), [x.T],
             lambda t: torch.norm(t, p=p, dim=dim, keepdim=keepdim), rtol=1e-4)


@needs_torch
@pytest.mark.parametrize("p", [2, "fro", 1, math.inf, -math.inf, 3, 0.5, -1, 0])
def test_norm_at_zero_and_ties_as_torch(p):
    # gradient at the zero vector, at a zero element, and between tied |x|
    for x in (np.zeros((2, 3)), np.array([[0.0, -3.0, 1.0], [2.0, 0.0, -2.0]]),
              np.array([[3.0, -3.0, 1.0], [2.0, 2.0, -2.0]])):
        t = dw.tensor(x, dtype=dw.float32, requires_grad=True)
        o = torch.tensor(x, dtype=torch.float32, requires_grad=True)
        for dim in (None, 1):
            got, want = t.norm(p, dim), o.norm(p, dim)
            np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-5)
            t.grad = o.grad = None
            got.sum().backward()
            want.sum().backward()
            expect = np.zeros(x.shape) if o.grad is None else o.grad.numpy()
            np.testing.assert_allclose(t.grad.data, expect, rtol=1e-5, atol=1e-6)


def test_norm_nuclear_and_dtype():
    x = rand(3, 4, seed=5)
    check_op(lambda t: t.norm("nuc"), [x], lambda t: t.norm("nuc"), rtol=1e-4)
    b = rand(2, 3, 4, seed=6)
    check_op(lambda t: t.norm("nuc", dim=(0, 2), keepdim=True), [b],
             lambda t: t.norm("nuc", dim=(0, 2), keepdim=True), rtol=1e-4)
    with pytest.raises(ShapeError, match="norm: p='nuc' needs a 2-D tensor or a 2-tuple dim"):
        dw.tensor(b).norm("nuc")
    assert dw.tensor(x, dtype=dw.float32).norm(dtype=dw.float64).dtype == dw.float64
    with pytest.raises(TypeError, match="norm: expected a floating-point tensor"):
        dw.tensor([3, 4]).norm()


@pytest.mark.parametrize("x,dim", [(rand(3, 4), 0), (rand(3, 4), -1), (rand(4, 3).T, 1),
                                   (rand(2, 1, 3), 1), (rand(1), 0), (np.array(0.4), 0)])
def test_cumsum(x, dim):
    check_op(lambda t: t.cumsum(dim), [x], lambda t: t.cumsum(dim))
    check_op(lambda t: dw.cumsum(t, dim=dim), [x], lambda t: torch.cumsum(t, dim=dim))


def test_integer_dtypes_and_dtype_argument():
    i = dw.tensor([[1, 2, 3], [4, 5, 6]], dtype=dw.int32)
    assert i.sum().dtype == np.int64 and i.sum().item() == 21
    assert dw.tensor([True, False, True]).sum().item() == 2
    assert i.prod(1).dtype == np.int64 and i.prod(1).tolist() == [6, 120]
    assert i.cumsum(1).dtype == np.int64 and i.cumsum(1).tolist() == [[1, 3, 6], [4, 9, 15]]
    assert i.max().dtype == np.int32 and i.amin(0).tolist() == [1, 2, 3]
    assert i.sum(0, dtype=dw.float32).dtype == dw.float32
    assert i.mean(dtype=dw.float64).item() == 3.5
    with pytest.raises(TypeError, match="mean: could not infer the output dtype"):
        i.mean()
    # a float32 sum accumulated in float64 (dtype=) still backpropagates in float32
    x = dw.tensor(rand(3, 4), dtype=dw.float32, requires_grad=True)
    y = x.sum(1, dtype=dw.float64)
    assert y.dtype == dw.float64
    y.sum().backward()
    assert x.grad.dtype == dw.float32 and np.all(x.grad.data == 1)


@pytest.mark.parametrize("call,msg", [
    (lambda t: t.sum(3), r"sum: dim 3 is out of range for a tensor of shape \(2, 3, 4\) "
                         r"\(expected a dim in \[-3, 2\]\)"),
    (lambda t: t.mean((0, -4)), r"mean: dim -4 is out of range .* shape \(2, 3, 4\)"),
    (lambda t: t.amax((1, -2)), r"amax: dim 1 appears more than once .* shape \(2, 3, 4\)"),
    (lambda t: t.max(5), r"max: dim 5 is out of range .* shape \(2, 3, 4\)"),
    (lambda t: t.min(-4), r"min: dim -4 is out of range"),
    (lambda t: t.argmax(3), r"argmax: dim 3 is out of range"),
    (lambda t: t.var(3), r"var: dim 3 is out of range"),
    (lambda t: t.std((0, 0)), r"std: dim 0 appears more than once"),
    (lambda t: t.logsumexp(7), r"logsumexp: dim 7 is out of range"),
    (lambda t: t.prod(-5), r"prod: dim -5 is out of range"),
    (lambda t: t.norm(dim=3), r"norm: dim 3 is out of range"),
    (lambda t: t.cumsum(3), r"cumsum: dim 3 is out of range"),
])
def test_bad_dims_raise_shape_error(call, msg):
    with pytest.raises(ShapeError, match=msg):
        call(dw.tensor(rand(2, 3, 4)))


def test_bad_dim_types():
    t = dw.tensor(rand(2, 3))
    with pytest.raises(TypeError, match=r"max: dim must be an int, got \(0, 1\)"):
        t.max((0, 1))
    with pytest.raises(TypeError, match="sum: dim must be an int or a tuple of ints"):
        t.sum(1.5)
    with pytest.raises(TypeError, match="max: keepdim=True needs a dim"):
        t.max(keepdim=True)
    # dim=() reduces every axis, as in PyTorch
    assert t.sum(()).shape == () and t.amax(()).shape == ()


def test_reductions_in_a_graph_learn_the_right_gradient():
    # a small composite: a standardised score through logsumexp, checked end to end
    x = rand(4, 5, seed=9)
    check_op(lambda t: ((t - t.mean(1, keepdim=True)) / t.std(1, keepdim=True)).logsumexp(1)
             .sum() + t.norm() * t.amax(), [x],
             lambda t: ((t - t.mean(1, keepdim=True)) / t.std(1, keepdim=True)).logsumexp(1)
             .sum() + t.norm() * t.amax(), rtol=1e-4)


def test_tensor_methods_and_exports():
    import deepwise.ops.reduce as R
    for name in R.__all__:
        assert getattr(dw, name) is getattr(R, name)
    for name in R.TENSOR_METHODS:
        assert getattr(dw.Tensor, name) is getattr(R, name)
