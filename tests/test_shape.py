"""Shape and indexing ops: float64 gradcheck + PyTorch parity (values and gradients) for each op
on odd shapes, negative dims, size-1 axes and transposed (non-contiguous) inputs; and errors."""

import numpy as np
import pytest
from helpers import check_op, rand, torch

import deepwise as dw
from deepwise.autograd import ShapeError
from deepwise.ops import index as I
from deepwise.ops import shape as S

F = torch.nn.functional if torch is not None else None


def idx(*vals: int) -> np.ndarray:
    return np.array(vals, dtype=np.int64)


# ---- reshaping ---------------------------------------------------------------------------


def test_reshape_view():
    check_op(lambda x: x.reshape(4, -1), [rand(2, 3, 4)], lambda x: x.reshape(4, -1))
    check_op(lambda x: x.view((3, 1, -1)), [rand(4, 3).T], lambda x: x.reshape(3, 1, -1))
    check_op(lambda x: dw.reshape(x, ()), [rand(1, 1)], lambda x: x.reshape(()))


@pytest.mark.parametrize("args", [(), (1,), (1, 2), (-3, -2), (0, -1), (2, 2)])
def test_flatten(args):
    check_op(lambda x: x.flatten(*args), [rand(2, 3, 1, 5)], lambda x: x.flatten(*args))


def test_flatten_transposed_and_scalar():
    check_op(lambda x: dw.flatten(x), [rand(4, 3).T], lambda x: torch.flatten(x))
    check_op(lambda x: x.flatten(), [rand()], lambda x: x.flatten())


@pytest.mark.parametrize("dim,sizes", [(1, (3, -1)), (-1, (2, 1, 6)), (0, (1, 2))])
def test_unflatten(dim, sizes):
    check_op(lambda x: x.unflatten(dim, sizes), [rand(2, 12)],
             lambda x: x.unflatten(dim, sizes))


@pytest.mark.parametrize("dim", [None, 1, -1, 0, (1, 3), (-4, -2)])
def test_squeeze(dim):
    args = () if dim is None else (dim,)
    check_op(lambda x: x.squeeze(*args), [rand(2, 1, 3, 1)], lambda x: x.squeeze(*args))


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_unsqueeze(dim):
    check_op(lambda x: x.unsqueeze(dim), [rand(4, 3).T], lambda x: x.unsqueeze(dim))


def test_transpose_permute():
    check_op(lambda x: x.transpose(0, -1), [rand(2, 3, 4)], lambda x: x.transpose(0, -1))
    check_op(lambda x: x.transpose(1, 1), [rand(2, 3)], lambda x: x.transpose(1, 1))
    check_op(lambda x: x.permute(2, 0, 1), [rand(2, 1, 4)], lambda x: x.permute(2, 0, 1))
    check_op(lambda x: dw.permute(x, (-1, 0)), [rand(4, 3).T], lambda x: x.permute(-1, 0))
    check_op(lambda x: x.transpose(0, -1), [rand()], lambda x: x.transpose(0, -1))


# ---- expand / repeat -------------------------------------------------------------------------


def test_expand():
    check_op(lambda x: x.expand(2, 3, -1, 4), [rand(3, 1, 1)],
             lambda x: x.expand(2, 3, -1, 4))
    check_op(lambda x: x.expand((5, 3)), [rand(3)], lambda x: x.expand((5, 3)))
    check_op(lambda x: x.expand(2, 3), [rand(3, 1).T], lambda x: x.expand(2, 3))


def test_expand_as_broadcast_to():
    check_op(lambda x, y: x.expand_as(y) * y, [rand(1, 3), rand(4, 3, seed=1)],
             lambda x, y: x.expand_as(y) * y)
    check_op(lambda x: dw.broadcast_to(x, (2, 1, 3)), [rand(1, 3)],
             lambda x: torch.broadcast_to(x, (2, 1, 3)))
    check_op(lambda x: x.broadcast_to((2, 4, 1)), [rand(4, 1)],
             lambda x: x.broadcast_to((2, 4, 1)))


@pytest.mark.parametrize("reps", [(2, 3), (2, 1, 3), (1, 1), (3, 1, 1, 2)])
def test_repeat(reps):
    check_op(lambda x: x.repeat(*reps), [rand(3, 2).T], lambda x: x.repeat(*reps))


# ---- cat / stack / split / chunk / narrow ----------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_cat(dim):
    shapes = {0: [(2, 3), (1, 3), (3, 3)], 1: [(2, 1), (2, 3), (2, 2)]}[dim % 2]
    xs = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    xs[1] = np.ascontiguousarray(xs[1].T).T  # a transposed view
    check_op(lambda a, b, c: dw.cat([a, b, c], dim), xs, lambda a, b, c: torch.cat([a, b, c], dim))


def test_cat_partial_grad_and_constants():
    check_op(lambda a, b: dw.cat((a, b), 1), [rand(2, 2), rand(2, 3, seed=1)],
             lambda a, b: torch.cat((a, b), 1), grad=[False, True])
    out = dw.cat([dw.tensor([1.0, 2.0], requires_grad=True), np.array([3.0], np.float32)])
    np.testing.assert_array_equal(out.data, [1, 2, 3])


def test_cat_promotes_and_skips_legacy_empty():
    a = dw.tensor([[1.0, 2.0]], requires_grad=True)
    b = dw.tensor([[3, 4]])
    out = dw.cat([dw.zeros(0), a, b])
    assert out.dtype == np.float32 and out.shape == (2, 2)
    (out * dw.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [[1, 2]])
    assert dw.cat([a.double(), a]).dtype == np.float64


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(dim):
    xs = [rand(2, 3, seed=0), rand(3, 2, seed=1).T, rand(2, 3, seed=2)]
    check_op(lambda a, b, c: dw.stack([a, b, c], dim), xs,
             lambda a, b, c: torch.stack([a, b, c], dim))


@pytest.mark.parametrize("arg,dim", [(2, 0), (2, -1), ([1, 3, 1], 1), ((4,), -2), (5, 1)])
def test_split(arg, dim):
    check_op(lambda x: x.split(arg, dim), [rand(5, 5)[:4, :]],
             lambda x: x.split(arg, dim))


def test_split_one_piece_used():
    """Unused outputs of the multi-output Split get zero gradients."""
    check_op(lambda x: dw.split(x, 2, -1)[1] * 3, [rand(3, 5)],
             lambda x: torch.split(x, 2, -1)[1] * 3)


@pytest.mark.parametrize("n,chunks", [(6, 4), (5, 3), (4, 4), (2, 5), (7, 1)])
def test_chunk(n, chunks):
    check_op(lambda x: x.chunk(chunks, dim=-1), [rand(2, n)],
             lambda x: x.chunk(chunks, dim=-1))
    x = dw.zeros(0, 3)
    assert [tuple(p.shape) for p in x.chunk(3)] == [(0, 3)] * 3


@pytest.mark.parametrize("dim,start,length", [(0, 1, 2), (-1, -3, 2), (1, 0, 0), (0, 0, 4)])
def test_narrow(dim, start, length):
    check_op(lambda x: x.narrow(dim, start, length), [rand(3, 4).T],
             lambda x: x.narrow(dim, start, length))


# ---- pad ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pad,value", [((1, 2), None), ((1, 1, 2, 0), 2.5), ((-1, 2), 0),
                                       ((0, 1, 1, 0, 1, 1), -1), ((1, -2, -1, 1), 0.5)])
def test_pad_constant(pad, value):
    check_op(lambda x: dw.pad(x, pad, value=value), [rand(2, 3, 4)],
             lambda x: F.pad(x, pad, value=value or 0.0))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", [((2, 3, 5), (2, 3)), ((3, 5), (1, 0)),
                                       ((1, 2, 4, 5), (1, 2, 3, 1)), ((2, 4, 3), (0, 2, 1, 2)),
                                       ((1, 1, 3, 3, 4), (1, 1, 2, 0, 1, 2)),
                                       ((2, 3, 5), (-1, 2))])
def test_pad_modes(mode, shape, pad):
    check_op(lambda x: dw.pad(x, pad, mode=mode), [rand(*shape)],
             lambda x: F.pad(x, pad, mode=mode))


def test_pad_transposed_input():
    check_op(lambda x: dw.pad(x, (1, 2), "reflect"), [rand(4, 3).T],
             lambda x: F.pad(x, (1, 2), "reflect"))


# ---- flip / roll -------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [(0,), (-1,), (0, 2), (1, -1, 0)])
def test_flip(dims):
    check_op(lambda x: x.flip(dims), [rand(2, 3, 4)], lambda x: x.flip(dims))
    check_op(lambda x: dw.flip(x, *dims), [rand(4, 3, 2).transpose(2, 0, 1)],
             lambda x: torch.flip(x, dims))


@pytest.mark.parametrize("shifts,dims", [(1, 0), (-2, -1), ((1, 5), (0, 1)), (4, None)])
def test_roll(shifts, dims):
    check_op(lambda x: x.roll(shifts, dims), [rand(3, 4).T], lambda x: x.roll(shifts, dims))


# ---- gather / index_select ---------------------------------------------------------------


def test_gather():
    i0 = np.array([[0, 2, 2], [1, 1, 0]])  # repeated indices accumulate
    check_op(lambda x, i: x.gather(0, i), [rand(3, 3), i0], lambda x, i: x.gather(0, i))
    i1 = np.array([[3, 3], [0, 3], [1, 2]])
    check_op(lambda x, i: dw.gather(x, -1, i), [rand(4, 3).T, i1],
             lambda x, i: torch.gather(x, -1, i))
    small = np.array([[1], [0]])  # smaller than the input in the other dim
    check_op(lambda x, i: x.gather(1, i), [rand(3, 4), small], lambda x, i: x.gather(1, i))
    i3 = np.zeros((1, 2, 3), np.int64)
    check_op(lambda x, i: x.gather(1, i), [rand(2, 3, 4), i3], lambda x, i: x.gather(1, i))


def test_index_select():
    check_op(lambda x, i: x.index_select(0, i), [rand(4, 3), idx(3, 0, 3, 3)],
             lambda x, i: x.index_select(0, i))
    check_op(lambda x, i: dw.index_select(x, -1, i), [rand(4, 3).T, idx(1, 1, 0)],
             lambda x, i: torch.index_select(x, -1, i))
    check_op(lambda x, i: x.index_select(1, i), [rand(2, 3), np.array(2)],
             lambda x, i: x.index_select(1, i))


# ---- getitem -----------------------------------------------------------------------------

BASIC = [
    np.s_[1], np.s_[-1], np.s_[1:], np.s_[1:3, :, ::2], np.s_[None, 1, ..., None],
    np.s_[..., 0], np.s_[0, 0, 0], np.s_[:, None, 2:], np.s_[-3:, -1:, 1:-1],
]


@pytest.mark.parametrize("index", BASIC)
def test_getitem_basic(index):
    check_op(lambda x: x[index], [rand(4, 3, 5)], lambda x: x[index])
    check_op(lambda x: x[index], [rand(5, 3, 4).T], lambda x: x[index])


# PyTorch has no negative steps: compare with the flip that gives the same elements
NEGATIVE_STEPS = [
    (np.s_[::-1], lambda x: x.flip(0)),
    (np.s_[:, ::-2], lambda x: x.flip(1)[:, ::2]),
    (np.s_[-2:0:-1, 1:3], lambda x: x[1:3].flip(0)[:, 1:3]),
    (np.s_[..., 3::-3], lambda x: x[..., :4].flip(-1)[..., ::3]),
]


@pytest.mark.parametrize("index,torch_fn", NEGATIVE_STEPS)
def test_getitem_negative_steps(index, torch_fn):
    check_op(lambda x: x[index], [rand(4, 3, 5)], torch_fn)


ADVANCED = [
    [0, 0, 2, 0],  # repeated rows accumulate
    ([1, 1, 0], [2, 2, 2]),  # repeated (row, col) pairs
    (slice(None), [2, 0, 2]),
    ([[0, 1], [1, 1]], slice(1, None), [3, 3]),  # advanced parts separated by a slice
    (Ellipsis, [-1, 0, -1]),
    ([True, False, True, True],),
    (1, [True, False, True]),
]


@pytest.mark.parametrize("index", ADVANCED)
def test_getitem_advanced(index):
    check_op(lambda x: x[index], [rand(4, 3, 4)], lambda x: x[index])


def test_getitem_tensor_indices_and_masks():
    x = rand(4, 3)
    check_op(lambda x, i: x[i], [x, idx(2, 2, 0)], lambda x, i: x[i])
    check_op(lambda x, i: x[i, 1:], [x, np.array([[3, 3], [0, 3]])], lambda x, i: x[i, 1:])
    check_op(lambda x, i: x[i], [x, np.array(1)], lambda x, i: x[i])
    mask = x > 0
    check_op(lambda x, m: x[m], [x, mask], lambda x, m: x[m])
    check_op(lambda x, m: x[m], [rand(3, 4).T, mask], lambda x, m: x[m])
    check_op(lambda x: x[x > 0.2], [x], lambda x: x[x > 0.2])
    check_op(lambda x: x[:, []], [x], lambda x: x[:, []])


@pytest.mark.parametrize("n", [3, 300])
def test_getitem_scatter_paths_agree(n):
    """Both scatter-add paths (bincount for a dense gradient, np.add.at for a few rows of a large
    x) accumulate repeated indices."""
    x = dw.tensor(rand(n, 2), requires_grad=True)
    i = np.array([1, 1, 1, 0, 2, 1])
    x[i].sum().backward()
    want = np.zeros((n, 2))
    np.add.at(want, i, 1.0)
    np.testing.assert_array_equal(x.grad.data, want)


def test_scatter_add_matches_add_at():
    rng = np.random.default_rng(0)
    for shape, index in [((50, 3), (rng.integers(-50, 50, 400),)),
                         ((5000, 3), (rng.integers(0, 5000, 40), slice(None, 2)))]:
        g = rng.standard_normal(np.zeros(shape)[index].shape)
        want = np.zeros(shape)
        np.add.at(want, index, g)
        np.testing.assert_allclose(I._scatter_add(shape, index, g), want, atol=1e-12)


def test_basic_getitem_is_a_view_and_methods_bound():
    x = dw.tensor(rand(3, 4))
    assert np.shares_memory(x[1:, ::-1].data, x.data)
    assert np.shares_memory(x.flip(0).data, x.data)
    for mod in (S, I):
        for name in mod.TENSOR_METHODS:
            assert getattr(dw.Tensor, name) is getattr(mod, name)
    for name in ("cat", "stack", "pad", "split", "chunk"):
        assert getattr(dw, name) is getattr(S, name)
    for name in ("gather", "index_select", "getitem"):
        assert getattr(dw, name) is getattr(I, name)


# ---- errors ------------------------------------------------------------------------------

ERRORS = [
    (lambda: dw.cat([dw.zeros(2, 3), dw.zeros(3, 3)], 1),
     r"cat: tensors must have the same shape except in dim 1; got \(2, 3\) and \(3, 3\)"),
    (lambda: dw.cat([dw.zeros(2, 3), dw.zeros(3)]), r"cat: .*got \(2, 3\) and \(3,\)"),
    (lambda: dw.stack([dw.zeros(2, 3), dw.zeros(3, 3)]),
     r"stack: .*same shape; got \(2, 3\) at entry 0 and \(3, 3\) at entry 1"),
    (lambda: dw.zeros(2, 3).reshape(4, -1),
     r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into \(4, -1\)"),
    (lambda: dw.zeros(2, 12).unflatten(1, (5, -1)), r"unflatten: .*dim 1 of size 12"),
    (lambda: dw.zeros(2, 3).flatten(1, 0), r"flatten: start_dim 1 comes after end_dim 0"),
    (lambda: dw.zeros(2, 1, 3).expand(3, 4, 3), r"expand: cannot expand shape \(2, 1, 3\)"),
    (lambda: dw.zeros(2, 1, 3).expand(2, 4), r"expand: 2 sizes .* expected at least 3"),
    (lambda: dw.zeros(2, 3).repeat(2), r"repeat: sizes \(2,\) .*at least 2"),
    (lambda: dw.zeros(5, 3).split([2, 2]), r"split: sizes \[2, 2\] .*add up to 5"),
    (lambda: dw.zeros(5, 3).split(0), r"split: split_size must be positive"),
    (lambda: dw.zeros(5, 3).narrow(0, 4, 2), r"narrow: start 4 and length 2 .*size 5"),
    (lambda: dw.zeros(2, 3).permute(0, 0), r"permute: dims \(0, 0\) are not a permutation"),
    (lambda: dw.zeros(2, 3).flip(0, -2), r"flip: dims \(0, 0\) name a dim twice"),
    (lambda: dw.roll(dw.zeros(2, 3), (1,), (0, 1)), r"roll: 1 shifts .* for 2 dims"),
    (lambda: dw.pad(dw.zeros(2, 3), (1, 1, 1)), r"pad: pad \(1, 1, 1\) must have an even length"),
    (lambda: dw.pad(dw.zeros(3), (1, 1), "reflect"), r"pad: mode 'reflect' .*got shape \(3,\)"),
    (lambda: dw.pad(dw.zeros(2, 3, 4), (4, 1), "reflect"), r"at most 3 .*dim 2 of size 4"),
    (lambda: dw.pad(dw.zeros(2, 3, 4), (5, 1), "circular"), r"at most 4 .*dim 2 of size 4"),
    (lambda: dw.gather(dw.zeros(5, 3), 1, idx(0)), r"gather: index of shape \(1,\) for an input"),
    (lambda: dw.gather(dw.zeros(5, 3), 1, np.zeros((6, 2), np.int64)), r"gather: .*\(6, 2\)"),
    (lambda: dw.index_select(dw.zeros(5, 3), 1, np.zeros((2, 2), np.int64)),
     r"index_select: index must be 1-D, got shape \(2, 2\)"),
]


@pytest.mark.parametrize("fn,msg", ERRORS)
def test_shape_errors(fn, msg):
    with pytest.raises(ShapeError, match=msg):
        fn()


def test_other_errors():
    x = dw.zeros(2, 3)
    with pytest.raises(IndexError, match=r"transpose: dim 2 is out of range for a tensor of "
                                         r"shape \(2, 3\); expected an int in \[-2, 1\]"):
        x.transpose(0, 2)
    with pytest.raises(IndexError, match=r"unsqueeze: dim 3 .*\[-3, 2\]"):
        x.unsqueeze(3)
    with pytest.raises(IndexError, match=r"gather: index 3 is out of range for dim 1 of size 3"):
        x.gather(1, np.array([[3]]))
    with pytest.raises(IndexError, match=r"index_select: index -1 is out of range"):
        x.index_select(0, idx(-1))
    with pytest.raises(IndexError, match=r"getitem: index .* on a tensor of shape \(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match=r"getitem: .*integer or bool, got float"):
        x[np.array([0.0])]
    with pytest.raises(ValueError, match=r"pad: unknown mode 'foo'"):
        dw.pad(x, (1, 1), "foo")
    with pytest.raises(ValueError, match=r"pad: mode 'reflect' takes no value"):
        dw.pad(dw.zeros(1, 2, 3), (1, 1), "reflect", value=1.0)
    with pytest.raises(TypeError, match=r"cat: expected a list or tuple of tensors, got Tensor"):
        dw.cat(x)
    with pytest.raises(ValueError, match=r"stack: expected a non-empty list"):
        dw.stack([])
    with pytest.raises(ValueError, match=r"chunk: chunks must be positive, got 0"):
        x.chunk(0)
