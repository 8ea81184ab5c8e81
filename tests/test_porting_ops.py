"""The ops and tensor methods added so PyTorch scripts port (issue 18): each differentiable one
with a float64 gradcheck and PyTorch parity (check_op); the rest against PyTorch's answers."""

import numpy as np
import pytest
from helpers import check_op, needs_torch, rand, torch

import deepwise as dw
from deepwise.autograd import ShapeError


def idx(*vals: int) -> np.ndarray:
    return np.array(vals, dtype=np.int64)


# ---- linalg: mm, mv, dot, outer, einsum ---------------------------------------------------


def test_mm_mv_dot_outer():
    check_op(lambda a, b: a.mm(b), [rand(3, 4), rand(5, 4, seed=1).T], lambda a, b: a.mm(b))
    check_op(lambda a, v: a.mv(v), [rand(3, 4), rand(4, seed=1)], lambda a, v: a.mv(v))
    check_op(lambda a, b: dw.dot(a, b), [rand(5), rand(5, seed=1)], torch and torch.dot)
    check_op(lambda a, b: dw.outer(a, b), [rand(3), rand(1, seed=1)], torch and torch.outer)


def test_mm_errors_name_shapes():
    with pytest.raises(ShapeError, match=r"mm: expected two matrices .* got \(2, 3, 4\)"):
        dw.randn(2, 3, 4).mm(dw.randn(4, 2))
    with pytest.raises(ShapeError, match=r"inner dimensions differ \(4 vs 3\)"):
        dw.randn(2, 4).mm(dw.randn(3, 2))
    with pytest.raises(ShapeError, match=r"dot: \(3,\) @ \(4,\): inner dimensions differ"):
        dw.dot(dw.randn(3), dw.randn(4))
    with pytest.raises(ShapeError, match="dot: expected two vectors"):
        dw.dot(dw.randn(3, 1), dw.randn(3))


@pytest.mark.parametrize("eq,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 1)]),
    ("ij,jk", [(2, 3), (3, 4)]),               # implicit output: 'ik'
    ("ij->j", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij,kl->ijkl", [(2, 1), (1, 3)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("ij,j,k->ik", [(2, 3), (3,), (4,)]),       # an index summed that only one operand has
    ("ik,jk->i", [(2, 3), (4, 3)]),
])
def test_einsum(eq, shapes):
    inputs = [rand(*s, seed=k) for k, s in enumerate(shapes)]
    check_op(lambda *xs: dw.einsum(eq, *xs), inputs, lambda *xs: torch.einsum(eq, *xs))


def test_einsum_list_form_and_errors():
    a, b = dw.randn(2, 3), dw.randn(3, 4)
    np.testing.assert_allclose(dw.einsum("ij,jk->ik", [a, b]).data, (a @ b).data, rtol=1e-6)
    with pytest.raises(ShapeError, match=r"index 'j' has size 3 in one operand and 2"):
        dw.einsum("ij,jk->ik", a, dw.randn(2, 4))
    with pytest.raises(ValueError, match="repeats a letter"):
        dw.einsum("ii->i", dw.randn(3, 3))
    with pytest.raises(ShapeError, match=r"'...' dimensions \[\(2,\), \(3,\)\] do not broadcast"):
        dw.einsum("...i,...i->...", dw.randn(2, 3), dw.randn(3, 3))
    with pytest.raises(ValueError, match="at most one '...' per operand"):
        dw.einsum("......i->i", dw.randn(2, 3))
    with pytest.raises(ShapeError, match=r"operand 0 has 1 dimensions \(3,\) but '...ij' names 2"):
        dw.einsum("...ij->...ji", dw.randn(3))


@pytest.mark.parametrize("eq,shapes", [
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 2)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),     # '...' broadcast (a size-1 dim expanded)
    ("i...->...", [(3, 2, 4)]),
    ("...i,...i->...", [(2, 3), (1, 3)]),
    ("b...d,bd->b...", [(2, 3, 1, 5), (2, 5)]),      # '...' in the middle
    ("a...b->b...a", [(2, 3, 4, 5)]),
    ("...ij->ij", [(2, 3, 4)]),                       # '...' summed away
    ("...,...->...", [(3,), (2, 1)]),                 # '...' is everything
    ("ij...,jk->ik...", [(2, 3), (3, 4)]),            # '...' of no dimensions
])
def test_einsum_ellipsis(eq, shapes):
    inputs = [rand(*s, seed=k) for k, s in enumerate(shapes)]
    check_op(lambda *xs: dw.einsum(eq, *xs), inputs, lambda *xs: torch.einsum(eq, *xs))


# ---- shape: t, view_as, unbind, movedim -----------------------------------------------------


def test_t_view_as_unbind_movedim():
    check_op(lambda x: x.t(), [rand(3, 4)], lambda x: x.t())
    check_op(lambda x: x.t(), [rand(4)], lambda x: x.t())
    check_op(lambda x, o: x.view_as(o), [rand(2, 6), np.zeros((3, 4), np.int64)],
             lambda x, o: x.view_as(o))
    check_op(lambda x: x.unbind(1), [rand(2, 3, 2)], lambda x: x.unbind(1))
    check_op(lambda x: dw.movedim(x, 0, -1), [rand(2, 3, 4)], lambda x: torch.movedim(x, 0, -1))
    check_op(lambda x: x.movedim((0, 1), (2, 0)), [rand(2, 3, 4)],
             lambda x: x.movedim((0, 1), (2, 0)))
    with pytest.raises(ShapeError, match="t: expects a tensor with at most 2 dims"):
        dw.randn(2, 3, 4).t()


# ---- index: tril/triu, masked_select, nonzero, scatter, index_add --------------------------


@pytest.mark.parametrize("diagonal", [0, 1, -1, 3])
def test_tril_triu(diagonal):
    check_op(lambda x: dw.tril(x, diagonal), [rand(3, 4)], lambda x: torch.tril(x, diagonal))
    check_op(lambda x: x.triu(diagonal), [rand(2, 4, 3)], lambda x: x.triu(diagonal))


def test_causal_mask_from_tril_as_the_language_model_builds_it():
    mask = dw.log(dw.tril(dw.ones(3, 3)))
    assert mask.tolist() == [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]]


def test_masked_select_and_nonzero():
    x = rand(3, 4)
    mask = x > 0.2
    check_op(lambda t: t.masked_select(dw.tensor(mask)), [x],
             lambda t: t.masked_select(torch.tensor(mask)))
    check_op(lambda t: dw.masked_select(t, dw.tensor(mask[0])), [x],  # the mask broadcasts
             lambda t: torch.masked_select(t, torch.tensor(mask[0])))
    nz = dw.nonzero(dw.tensor(mask))
    assert nz.dtype == np.int64 and nz.shape == (mask.sum(), 2)
    rows, cols = dw.tensor(mask).nonzero(as_tuple=True)
    np.testing.assert_array_equal(x[rows.data, cols.data], x[mask])
    needs_torch()
    np.testing.assert_array_equal(nz.data, torch.nonzero(torch.tensor(mask)).numpy())


def test_scatter_scatter_add_index_add():
    index = np.array([[0, 2, 1], [1, 0, 0]])
    check_op(lambda x, s: dw.scatter_add(x, 0, index, s), [rand(3, 4), rand(2, 3, seed=1)],
             lambda x, s: torch.scatter_add(x, 0, torch.tensor(index), s))
    distinct = np.array([[0, 2, 1], [1, 0, 2]])  # scatter: no repeated target (order-free)
    check_op(lambda x, s: x.scatter(0, distinct, s), [rand(3, 4), rand(2, 3, seed=1)],
             lambda x, s: x.scatter(0, torch.tensor(distinct), s))
    check_op(lambda x: dw.scatter(x, 1, idx(0, 2)[:, None], value=5.0), [rand(2, 3)],
             lambda x: torch.scatter(x, 1, torch.tensor([[0], [2]]), 5.0))
    check_op(lambda x, s: x.index_add(1, idx(2, 0, 2), s, alpha=2.0),
             [rand(2, 3), rand(2, 3, seed=1)],
             lambda x, s: x.index_add(1, torch.tensor([2, 0, 2]), s, alpha=2.0))


def test_inplace_scatter_and_index_add_match_torch():
    x = dw.zeros(3, 4)
    x.scatter_(0, dw.tensor([[0, 1, 2, 0]]), dw.ones(1, 4))
    x.scatter_add_(1, dw.tensor([[1], [1], [1]]), dw.full((3, 1), 2.0))
    x.index_add_(0, dw.tensor([2, 2]), dw.ones(2, 4))
    needs_torch()
    t = torch.zeros(3, 4)
    t.scatter_(0, torch.tensor([[0, 1, 2, 0]]), torch.ones(1, 4))
    t.scatter_add_(1, torch.tensor([[1], [1], [1]]), torch.full((3, 1), 2.0))
    t.index_add_(0, torch.tensor([2, 2]), torch.ones(2, 4))
    np.testing.assert_array_equal(x.data, t.numpy())


def test_scatter_errors():
    with pytest.raises(ShapeError, match="scatter_add: index of shape"):
        dw.scatter_add(dw.zeros(3, 4), 0, np.zeros((2, 5), np.int64), dw.ones(2, 5))
    with pytest.raises(IndexError, match="index 3 is out of range for dim 0 of size 3"):
        dw.zeros(3, 4).scatter(0, dw.tensor([[3]]), value=1.0)
    with pytest.raises(ShapeError, match=r"index_add: source has shape \(2, 2\), expected"):
        dw.zeros(3, 4).index_add(0, dw.tensor([0, 1]), dw.ones(2, 2))


# ---- //, %, fmod ------------------------------------------------------------------------------


def test_remainder_fmod_floor_divide():
    a, b = rand(3, 4, low=-5, high=5), rand(4, seed=1, low=0.5, high=2) * np.array([1, -1, 1, -1])
    # PyTorch has no derivative of remainder/fmod for the divisor: compared for the dividend,
    # and the divisor's gradient (-floor(a / b)) checked by finite differences alone
    check_op(lambda x, y: x % y, [a, b], lambda x, y: x % y, grad=[True, False])
    check_op(lambda x, y: dw.fmod(x, y), [a, b], lambda x, y: torch.fmod(x, y), grad=[True, False])
    for op in (dw.remainder, dw.fmod):
        dw.autograd.gradcheck(op, [dw.tensor(a, requires_grad=True),
                                   dw.tensor(b, requires_grad=True)])
    check_op(lambda x: (x + 3) % 0.7, [rand(5, low=0.1, high=1)], lambda x: (x + 3) % 0.7)
    assert (7.5 % dw.tensor([2.0, -2.0])).tolist() == [1.5, -0.5]
    i = dw.arange(-5, 6)
    assert (i // 3).tolist() == [v // 3 for v in range(-5, 6)]
    assert (i % 3).tolist() == [v % 3 for v in range(-5, 6)]
    assert (7 // dw.tensor([2, -2])).tolist() == [3, -4]
    y = dw.tensor([3.5], requires_grad=True) // 2
    assert not y.requires_grad and y.tolist() == [1.0]  # a step function: no gradient


# ---- comparisons, conversions, constructors -----------------------------------------------


def test_allclose_isclose_equal():
    a = dw.tensor([1.0, 2.0, np.nan])
    assert not dw.allclose(a, a) and dw.allclose(a, a, equal_nan=True)
    assert dw.isclose(a, a + 1e-9).tolist() == [True, True, False]
    assert dw.equal(dw.tensor([1, 2]), dw.tensor([1, 2]))
    assert not dw.equal(dw.tensor([1, 2]), dw.tensor([[1, 2]]))
    assert dw.tensor([1.0]).allclose(dw.tensor([1.0 + 1e-7]))


def test_type_new_and_legacy_constructors():
    x = dw.randn(2, 3)
    assert x.type() == "torch.FloatTensor" and x.double().type() == "torch.DoubleTensor"
    assert x.type(dw.float64).dtype == np.float64
    assert x.type("torch.LongTensor").dtype == np.int64
    z = x.double().new_zeros(4, 2)
    assert z.shape == (4, 2) and z.dtype == np.float64
    assert x.new_ones((2,)).tolist() == [1.0, 1.0] and x.new_full((1,), 7).tolist() == [7.0]
    assert x.new_tensor([1, 2]).dtype == np.float32
    assert dw.LongTensor([1, 2]).dtype == np.int64 and dw.FloatTensor(2, 3).shape == (2, 3)
    with pytest.raises(TypeError, match="unknown type name"):
        x.type("torch.Nonsense")


def test_device_generator_inference_mode():
    d = dw.device("cpu")
    assert d.type == "cpu" and str(d) == "cpu" and d == "cpu"
    assert dw.randn(2).to(d).device == "cpu" and dw.nn.Linear(2, 2).to(d) is not None
    with pytest.raises(ValueError, match="no GPU backend"):
        dw.device("cuda")
    assert not dw.cuda.is_available() and not dw.accelerator.is_available()
    g1, g2 = dw.Generator().manual_seed(42), dw.Generator().manual_seed(42)
    assert g1.initial_seed() == 42 and g1.random() == g2.random()
    w = dw.randn(2, requires_grad=True)
    with dw.inference_mode():
        assert not (w * 2).requires_grad
    with dw.inference_mode(False):
        assert (w * 2).requires_grad


def test_multinomial_bernoulli_follow_their_probabilities():
    dw.manual_seed(0)
    draws = dw.multinomial(dw.tensor([0.1, 0.0, 0.9]), 2000, replacement=True)
    freq = np.bincount(draws.data, minlength=3) / 2000
    assert freq[1] == 0 and abs(freq[2] - 0.9) < 0.03
    rows = dw.multinomial(dw.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]), 2)
    assert sorted(rows[0].tolist()) == [0, 1] and sorted(rows[1].tolist()) == [1, 2]
    b = dw.bernoulli(dw.full((4000,), 0.25))
    assert abs(b.data.mean() - 0.25) < 0.03
    with pytest.raises(ValueError, match="without replacement"):
        dw.multinomial(dw.tensor([1.0, 0.0]), 2)


def test_param_data_has_torch_inplace_methods():
    lin = dw.nn.Linear(3, 2)
    w0 = lin.weight.data.copy()
    lin.weight.grad = dw.ones(2, 3)
    lin.weight.data.add_(lin.weight.grad, alpha=-0.5)
    np.testing.assert_allclose(lin.weight.data, w0 - 0.5)
    lin.bias.data.uniform_(-0.1, 0.1)
    assert (np.abs(lin.bias.data) <= 0.1).all()
    assert lin.weight.data.view(-1).shape == (6,)
    assert lin.weight.data.view(np.int32).dtype == np.int32  # NumPy's view(dtype) still works
    lin.weight.data.zero_()
    assert not lin.weight.data.any()
    lin.double()  # the dtype changes, the methods stay
    lin.weight.data.fill_(2.0)
    assert lin.weight.dtype == np.float64 and lin.weight.data.sum() == 12
    # size: PyTorch's method when called, NumPy's element count (an int) otherwise
    size = lin.weight.data.size
    assert size() == (2, 3) and size(1) == 3 and size(-2) == 2
    assert size == 6 and isinstance(size, int) and np.zeros(size).shape == (6,)
    assert lin.state_dict()["weight"].size() == (2, 3)
    needs_torch()
    assert tuple(torch.nn.Linear(3, 2).weight.data.size()) == size()


def test_bincount_matches_torch():
    x = np.array([0, 3, 3, 1, 0, 3])
    assert dw.bincount(dw.tensor(x)).tolist() == [2, 1, 0, 3]
    w = dw.tensor([0.5, 1.0, 1.0, 2.0, 0.5, 1.0])
    assert dw.tensor(x).bincount(w, minlength=6).tolist() == [1.0, 2.0, 0.0, 3.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="non-negative integers"):
        dw.bincount(dw.tensor([-1, 2]))
    needs_torch()
    assert dw.bincount(dw.tensor(x), minlength=7).tolist() == \
        torch.bincount(torch.tensor(x), minlength=7).tolist()
