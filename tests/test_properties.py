"""Property-based tests (hypothesis) for the op families whose shapes vary: broadcasting
arithmetic, reductions over dim/keepdim, reshape/permute/indexing, batched matmul, pooling and
convolution output sizes.

Hypothesis draws the shapes and the arguments; the values come from a drawn seed. Each case
checks the output's shape and values against NumPy (or the output-size formula), and the
gradients against PyTorch in float64 where it is installed, else against central finite
differences (float64 gradcheck). ``derandomize=True``: the same cases on every run.
"""

import math
import operator

import numpy as np
import pytest
from helpers import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deepwise as dw
import deepwise.nn.functional as F

if torch is not None:
    import torch.nn.functional as TF


def props(n: int):
    """The settings of every property here: fixed cases, ``n`` of them, no time limit per case
    (a loaded machine), no example database written into the tree."""
    return settings(derandomize=True, max_examples=n, deadline=None, database=None)


SEED = st.integers(0, 2 ** 16)


def _data(shape, seed, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def check(fn, arrays, ref=None, tfn=None, rtol=1e-10, atol=1e-12):
    """``fn(*tensors)`` on float64 tensors that require grad.

    ref: the expected value from the NumPy arrays (shape and values compared);
    tfn: the same function on PyTorch tensors: values and the gradients of a random linear
    function of the output compared in float64. Without PyTorch, a float64 gradcheck instead.
    Returns the output."""
    xs = [dw.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    out = fn(*xs)
    assert out.dtype == np.float64, out.dtype
    if ref is not None:
        want = np.asarray(ref(*arrays))
        assert tuple(out.shape) == want.shape, (out.shape, want.shape)
        np.testing.assert_allclose(out.data, want, rtol=rtol, atol=atol, err_msg="value")
    if torch is None or tfn is None:
        assert out.requires_grad
        dw.autograd.gradcheck(fn, [dw.from_numpy(a.copy()).requires_grad_(True)
                                   for a in arrays])
        return out
    ts = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    tout = tfn(*ts)
    assert tuple(out.shape) == tuple(tout.shape), (out.shape, tuple(tout.shape))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg="value vs PyTorch")
    w = np.random.default_rng(7).standard_normal(tuple(out.shape))
    (out * dw.from_numpy(w)).sum().backward()
    (tout * torch.from_numpy(w)).sum().backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad is not None, f"input #{i}: no gradient"
        assert x.grad.shape == x.shape, (x.grad.shape, x.shape)
        np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input #{i} vs PyTorch")
    return out


# ---- broadcasting arithmetic ------------------------------------------------------------------

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
          "div": operator.truediv}


@props(60)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                max_side=4),
       op=st.sampled_from(sorted(BINARY)), seed=SEED)
def test_broadcasting_arithmetic(shapes, op, seed):
    """a (op) b for any two broadcastable shapes: NumPy's result shape and values; each
    input's gradient is summed back over the axes it was broadcast along."""
    a = _data(shapes.input_shapes[0], seed)
    b = _data(shapes.input_shapes[1], seed + 1, 0.5, 2.0)  # away from 0, for div
    f = BINARY[op]
    out = check(f, [a, b], f, f)
    assert tuple(out.shape) == shapes.result_shape


@props(20)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
       scalar=st.floats(0.5, 3.0), seed=SEED)
def test_arithmetic_with_python_scalars(shape, scalar, seed):
    """Python numbers on either side (the reflected operators)."""
    def f(a):
        return (scalar - a) * scalar / (a + 3.0) + scalar ** 2 / (4.0 - a)

    check(f, [_data(shape, seed)], f, f)


# ---- reductions -------------------------------------------------------------------------------

@st.composite
def reduce_args(draw, allow_tuple=True):
    """(shape, dim, keepdim): dim None, one axis, or a tuple of distinct axes (some negative)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"] if allow_tuple else ["none", "int"]))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        dim = tuple(d - nd if draw(st.booleans()) else d for d in axes)
    return shape, dim, draw(st.booleans())


def _np_axis(dim):
    return dim if dim is None or isinstance(dim, int) else tuple(dim)


def _all(dim, nd):
    """PyTorch's spelling of "every axis" for amax/amin/logsumexp."""
    return tuple(range(nd)) if dim is None else dim


REDUCTIONS = {
    "sum": (lambda t, d, k: t.sum(d, keepdim=k),
            lambda a, d, k: np.sum(a, _np_axis(d), keepdims=k),
            lambda t, d, k: t.sum(_all(d, t.ndim), keepdim=k)),
    "mean": (lambda t, d, k: t.mean(d, keepdim=k),
             lambda a, d, k: np.mean(a, _np_axis(d), keepdims=k),
             lambda t, d, k: t.mean(_all(d, t.ndim), keepdim=k)),
    "amax": (lambda t, d, k: t.amax(() if d is None else d, k),
             lambda a, d, k: np.max(a, _np_axis(d), keepdims=k),
             lambda t, d, k: t.amax(_all(d, t.ndim), k)),
    "amin": (lambda t, d, k: t.amin(() if d is None else d, k),
             lambda a, d, k: np.min(a, _np_axis(d), keepdims=k),
             lambda t, d, k: t.amin(_all(d, t.ndim), k)),
    "logsumexp": (lambda t, d, k: t.logsumexp(() if d is None else d, k),
                  lambda a, d, k: np.log(np.sum(np.exp(a), _np_axis(d), keepdims=k)),
                  lambda t, d, k: t.logsumexp(_all(d, t.ndim), k)),
    "var": (lambda t, d, k: t.var(d, keepdim=k, correction=0),
            lambda a, d, k: np.var(a, _np_axis(d), keepdims=k),
            lambda t, d, k: t.var(_all(d, t.ndim), keepdim=k, correction=0)),
    "norm": (lambda t, d, k: t.norm(dim=d, keepdim=k),
             lambda a, d, k: np.sqrt(np.sum(a * a, _np_axis(d), keepdims=k)),
             lambda t, d, k: torch.linalg.vector_norm(t, 2, d, k)),
}


@props(80)
@given(args=reduce_args(), op=st.sampled_from(sorted(REDUCTIONS)), seed=SEED)
def test_reductions_over_dims(args, op, seed):
    shape, dim, keepdim = args
    ours, ref, theirs = REDUCTIONS[op]
    a = _data(shape, seed)
    check(lambda t: ours(t, dim, keepdim), [a], lambda x: ref(x, dim, keepdim),
          lambda t: theirs(t, dim, keepdim))


@props(30)
@given(args=reduce_args(allow_tuple=False), op=st.sampled_from(["max", "min", "prod"]),
       seed=SEED)
def test_single_dim_reductions(args, op, seed):
    """max/min over one dim give (values, indices) as NumPy's max/argmax; prod over one dim
    or all (PyTorch's prod takes one dim)."""
    shape, dim, keepdim = args
    a = _data(shape, seed, 0.5, 1.5)
    if op == "prod":
        if dim is None:
            check(lambda t: t.prod(), [a], np.prod, lambda t: t.prod())
        else:
            check(lambda t: t.prod(dim, keepdim=keepdim), [a],
                  lambda x: np.prod(x, dim, keepdims=keepdim), lambda t: t.prod(dim, keepdim))
        return
    if dim is None:
        check(lambda t: getattr(t, op)(), [a], getattr(np, op), lambda t: getattr(t, op)())
        return
    arg = {"max": np.argmax, "min": np.argmin}[op]
    values, indices = getattr(dw.from_numpy(a), op)(dim, keepdim)
    want = arg(a, dim, keepdims=keepdim)
    assert indices.dtype == np.int64 and tuple(indices.shape) == want.shape
    np.testing.assert_array_equal(indices.data, want)
    check(lambda t: getattr(t, op)(dim, keepdim)[0], [a],
          lambda x: getattr(np, op)(x, dim, keepdims=keepdim),
          lambda t: getattr(t, op)(dim, keepdim)[0])


# ---- reshape, permute, indexing ---------------------------------------------------------------

@st.composite
def reshape_args(draw):
    """A shape and another with the same number of elements (1-sized axes and one -1 at times)."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    rest, target = math.prod(shape), []
    while rest > 1 and len(target) < 4:
        d = draw(st.sampled_from([d for d in range(2, rest + 1) if rest % d == 0]))
        target.append(d)
        rest //= d
    if rest > 1:
        target[-1] *= rest
    for _ in range(draw(st.integers(0, 2))):
        target.insert(draw(st.integers(0, len(target))), 1)
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@props(40)
@given(args=reshape_args(), seed=SEED, transposed=st.booleans())
def test_reshape(args, seed, transposed):
    """reshape to any shape of the same size, also from a transposed (non-contiguous) view."""
    shape, target = args
    a = _data(shape[::-1], seed).T if transposed else _data(shape, seed)
    check(lambda t: t.reshape(target), [a], lambda x: x.reshape(target),
          lambda t: t.reshape(target))
    if target:  # the varargs form too
        check(lambda t: t.reshape(*target), [a], lambda x: x.reshape(target),
              lambda t: t.reshape(*target))


@st.composite
def permute_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=5, max_side=3))
    nd = len(shape)
    perm = draw(st.permutations(range(nd)))
    return shape, tuple(p - nd if draw(st.booleans()) else p for p in perm), \
        draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1))


@props(40)
@given(args=permute_args(), seed=SEED)
def test_permute_and_transpose(args, seed):
    shape, perm, d0, d1 = args
    a = _data(shape, seed)
    check(lambda t: t.permute(*perm), [a], lambda x: x.transpose(perm),
          lambda t: t.permute(*perm))
    check(lambda t: t.transpose(d0, d1), [a], lambda x: np.swapaxes(x, d0, d1),
          lambda t: t.transpose(d0, d1))


@st.composite
def squeeze_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    nd = len(shape)
    start = draw(st.integers(-nd, nd - 1))
    end = draw(st.integers(start % nd, nd - 1))
    return shape, draw(st.integers(-nd - 1, nd)), draw(st.integers(-nd, nd - 1)), start, end


@props(30)
@given(args=squeeze_args(), seed=SEED)
def test_squeeze_unsqueeze_flatten(args, seed):
    """unsqueeze at any of ndim + 1 places, squeeze of one dim (a no-op unless it has size 1)
    and of all, flatten(start, end)."""
    shape, new, old, start, end = args
    a = _data(shape, seed)
    check(lambda t: t.unsqueeze(new), [a], lambda x: np.expand_dims(x, new),
          lambda t: t.unsqueeze(new))
    check(lambda t: t.squeeze(old), [a],
          lambda x: np.squeeze(x, old) if x.shape[old] == 1 else x, lambda t: t.squeeze(old))
    check(lambda t: t.squeeze(), [a], np.squeeze, lambda t: t.squeeze())
    s, e = start % len(shape), end % len(shape)
    flat = shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:]
    check(lambda t: t.flatten(start, end), [a], lambda x: x.reshape(flat),
          lambda t: t.flatten(start, end))


@st.composite
def cat_args(draw):
    """1-3 shapes equal but along ``dim`` (cat), a dim for stack, and a split of the result."""
    base = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)))
    nd = len(base)
    dim = draw(st.integers(-nd, nd - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    shapes = [tuple(base[:dim % nd] + [n] + base[dim % nd + 1:]) for n in sizes]
    total = sum(sizes)
    split = draw(st.one_of(st.integers(1, total + 1), st.just(tuple(sizes))))
    return shapes, dim, draw(st.integers(-nd - 1, nd)), split, draw(st.integers(1, total + 1))


@props(40)
@given(args=cat_args(), seed=SEED)
def test_cat_stack_split_chunk(args, seed):
    """cat along a dim, stack at any of ndim + 1 places; split (a size or the sections) and
    chunk of the result, every piece compared (flattened and joined)."""
    shapes, dim, sdim, split, chunks = args
    arrays = [_data(sh, seed + i) for i, sh in enumerate(shapes)]
    check(lambda *ts: dw.cat(ts, dim), arrays, lambda *xs: np.concatenate(xs, dim),
          lambda *ts: torch.cat(ts, dim))
    same = [_data(shapes[0], seed + 9 + i) for i in range(len(shapes))]
    check(lambda *ts: dw.stack(ts, sdim), same, lambda *xs: np.stack(xs, sdim),
          lambda *ts: torch.stack(ts, sdim))
    whole = np.concatenate(arrays, dim)
    n = whole.shape[dim]
    cuts = (np.cumsum(split)[:-1] if isinstance(split, tuple) else np.arange(split, n, split))
    want = np.concatenate([piece.ravel() for piece in np.split(whole, cuts, dim)])
    check(lambda t: dw.cat([q.reshape(-1) for q in t.split(split, dim)]), [whole],
          lambda x: want, lambda t: torch.cat([q.reshape(-1) for q in t.split(split, dim)]))
    pieces = dw.from_numpy(whole).chunk(chunks, dim)
    tsize = -(-n // chunks)  # PyTorch's chunk: pieces of ceil(n / chunks), the last smaller
    assert [q.shape[dim] for q in pieces] == [min(tsize, n - i) for i in range(0, n, tsize)]


@st.composite
def expand_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    target = tuple(draw(st.integers(1, 3)) if n == 1 else (n if draw(st.booleans()) else -1)
                   for n in shape)
    lead = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    reps = tuple(draw(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape) + 1)))
    nd = len(shape)
    dims = tuple(draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)))
    shifts = tuple(draw(st.integers(-4, 4)) for _ in dims)
    return shape, lead + target, reps, dims, shifts


@props(40)
@given(args=expand_args(), seed=SEED)
def test_expand_repeat_flip_roll(args, seed):
    """expand (-1 keeps a size, new leading dims; the gradient sums over the copies), repeat,
    flip and roll over several dims."""
    shape, target, reps, dims, shifts = args
    a = _data(shape, seed)
    size = tuple(n if t == -1 else t for n, t in zip((1,) * (len(target) - len(shape)) + shape,
                                                    target))
    check(lambda t: t.expand(*target), [a], lambda x: np.broadcast_to(x, size),
          lambda t: t.expand(*target))
    check(lambda t: t.repeat(*reps), [a], lambda x: np.tile(x, reps), lambda t: t.repeat(*reps))
    check(lambda t: t.flip(dims), [a], lambda x: np.flip(x, dims), lambda t: t.flip(dims))
    check(lambda t: t.roll(shifts, dims), [a], lambda x: np.roll(x, shifts, dims),
          lambda t: t.roll(shifts, dims))


@st.composite
def gather_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    picks = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5))
    gshape = tuple(draw(st.integers(1, m)) if i != dim % nd else draw(st.integers(1, 4))
                   for i, m in enumerate(shape))
    gidx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=math.prod(gshape),
                                  max_size=math.prod(gshape)))).reshape(gshape)
    return shape, dim, np.array(picks), gidx


@props(40)
@given(args=gather_args(), seed=SEED)
def test_gather_and_index_select(args, seed):
    """index_select and gather along any dim, with repeated indices (their gradients add)."""
    shape, dim, picks, gidx = args
    a = _data(shape, seed)
    check(lambda t: t.index_select(dim, dw.from_numpy(picks)), [a],
          lambda x: np.take(x, picks, dim),
          lambda t: t.index_select(dim, torch.from_numpy(picks)))
    lead = tuple(slice(0, m) for m in gidx.shape)
    check(lambda t: t.gather(dim, dw.from_numpy(gidx)), [a],
          lambda x: np.take_along_axis(x[tuple(lead[i] if i != dim % len(shape) else slice(None)
                                               for i in range(len(shape)))], gidx, dim),
          lambda t: t.gather(dim, torch.from_numpy(gidx)))


def check_index(a, index):
    """x[index]: NumPy's value, and the gradient scattered back, written with NumPy
    (np.add.at for integer arrays: a repeated index gets the sum of its gradients)."""
    x = dw.from_numpy(a.copy()).requires_grad_(True)
    out = x[index]
    want = a[index]
    assert tuple(out.shape) == want.shape, (out.shape, want.shape)
    np.testing.assert_array_equal(out.data, want)
    w = np.random.default_rng(3).standard_normal(want.shape)
    (out * dw.from_numpy(w)).sum().backward()
    g = np.zeros(a.shape)
    if isinstance(index, np.ndarray) or (isinstance(index, tuple) and any(
            isinstance(i, np.ndarray) for i in index)):
        np.add.at(g, index, w)
    else:
        g[index] += w  # basic indexing: a view, no element twice
    np.testing.assert_allclose(x.grad.data, g, rtol=1e-12, atol=1e-12)


@st.composite
def basic_index_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=5))
    return shape, draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True,
                                         allow_ellipsis=True))


@props(60)
@given(args=basic_index_args(), seed=SEED)
def test_basic_indexing(args, seed):
    """ints (negative too), slices with any step (negative too), ``...`` and ``None``."""
    shape, index = args
    check_index(_data(shape, seed), index)


@st.composite
def advanced_index_args(draw):
    """One integer array (repeats and negatives) along one axis, or a boolean mask."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    axis = draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    if draw(st.booleans()):
        idx = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=7)))
        return shape, (slice(None),) * axis + (idx,)
    mask = np.array(draw(st.lists(st.booleans(), min_size=shape[0], max_size=shape[0])))
    return shape, mask


@props(40)
@given(args=advanced_index_args(), seed=SEED)
def test_advanced_indexing(args, seed):
    """Integer arrays (a repeated index gets the sum of its gradients) and boolean masks."""
    shape, index = args
    check_index(_data(shape, seed), index)


# ---- zero-sized axes -------------------------------------------------------------------------

@props(40)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's mean of nothing
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3,
                                                min_side=0, max_side=3),
       dim=st.integers(0, 2), keepdim=st.booleans(), seed=SEED)
def test_zero_sized_axes(shapes, dim, keepdim, seed):
    """Broadcasting with a 0-sized axis, and sum/mean over it (0 and nan, as NumPy/PyTorch);
    the gradients are empty arrays of the inputs' shapes."""
    assume(0 in shapes.result_shape)
    a = _data(shapes.input_shapes[0], seed)
    b = _data(shapes.input_shapes[1], seed + 1)
    check(operator.mul, [a, b], operator.mul, operator.mul)
    d = dim % len(shapes.result_shape)
    check(lambda x, y: (x * y).sum(d, keepdim=keepdim), [a, b],
          lambda x, y: (x * y).sum(d, keepdims=keepdim),
          lambda x, y: (x * y).sum(d, keepdim=keepdim))
    check(lambda x, y: (x + y).mean(d, keepdim=keepdim), [a, b],
          lambda x, y: (x + y).mean(d, keepdims=keepdim),
          lambda x, y: (x + y).mean(d, keepdim=keepdim))


# ---- batched matmul ---------------------------------------------------------------------------

@st.composite
def matmul_shapes(draw):
    """(..., n, k) @ (..., k, m) with broadcastable batch dims; at times a 1-D side."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                   max_side=3))
    a, b = batch.input_shapes[0] + (n, k), batch.input_shapes[1] + (k, m)
    vec = draw(st.sampled_from(["none", "none", "a", "b", "both"]))
    if vec in ("a", "both"):
        a = (k,)
    if vec in ("b", "both"):
        b = (k,)
    return a, b


@props(60)
@given(shapes=matmul_shapes(), seed=SEED)
def test_matmul_batching(shapes, seed):
    a, b = _data(shapes[0], seed), _data(shapes[1], seed + 1)
    check(operator.matmul, [a, b], np.matmul, operator.matmul)


@props(20)
@given(nkm=st.tuples(*(st.integers(0, 3) for _ in range(3))).filter(lambda t: 0 in t),
       batch=st.integers(0, 2), seed=SEED)
def test_matmul_with_empty_dims(nkm, batch, seed):
    """(B, n, 0) @ (B, 0, m) is zeros (an empty sum); n = 0 or m = 0 give empty results."""
    n, k, m = nkm
    lead = (batch,) if batch else ()
    a, b = _data(lead + (n, k), seed), _data(lead + (k, m), seed + 1)
    check(operator.matmul, [a, b], np.matmul, operator.matmul)


# ---- pooling and convolution output sizes ----------------------------------------------------

def _pool_out(size, k, s, p, d, ceil):
    """PyTorch's documented output length, with ceil_mode's rule that the last window starts
    inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


@st.composite
def pool_args(draw, dilation=True):
    k = tuple(draw(st.integers(1, 3)) for _ in range(2))
    s = tuple(draw(st.integers(1, 3)) for _ in range(2))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    d = tuple(draw(st.integers(1, 2)) for _ in range(2)) if dilation else (1, 1)
    hw = tuple(draw(st.integers(max(1, di * (ki - 1) + 1 - 2 * pi), di * (ki - 1) + 5))
               for ki, pi, di in zip(k, p, d))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + hw
    return shape, k, s, p, d, draw(st.booleans())


@props(50)
@given(args=pool_args(), seed=SEED)
def test_max_pool2d_sizes_values_and_gradients(args, seed):
    shape, k, s, p, d, ceil = args
    a = _data(shape, seed)
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    with dw.no_grad():
        first = F.max_pool2d(dw.from_numpy(a), **kw).data
    if not np.isfinite(first).all():
        # a dilated window that only meets padding (W=1, dilation 2, padding 1): -inf, as in
        # PyTorch, whose gradient there goes to an arbitrary element; deepwise's is 0
        assert np.isneginf(first).any()
        if torch is not None:
            np.testing.assert_array_equal(first, TF.max_pool2d(torch.from_numpy(a), **kw))
        return
    out = check(lambda t: F.max_pool2d(t, **kw), [a], None,
                (lambda t: TF.max_pool2d(t, **kw)) if torch is not None else None)
    assert tuple(out.shape) == shape[:2] + tuple(
        _pool_out(n, *a_) for n, a_ in zip(shape[2:], zip(k, s, p, d, (ceil, ceil))))


@props(50)
@given(args=pool_args(dilation=False), include_pad=st.booleans(), seed=SEED)
def test_avg_pool2d_sizes_values_and_gradients(args, include_pad, seed):
    shape, k, s, p, _, ceil = args
    a = _data(shape, seed)
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=include_pad)
    out = check(lambda t: F.avg_pool2d(t, **kw), [a], None,
                (lambda t: TF.avg_pool2d(t, **kw)) if torch is not None else None)
    assert tuple(out.shape) == shape[:2] + tuple(
        _pool_out(n, ki, si, pi, 1, ceil) for n, ki, si, pi in zip(shape[2:], k, s, p))


@st.composite
def conv_args(draw):
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(2))
    d = tuple(draw(st.integers(1, 2)) for _ in range(2))
    s = tuple(draw(st.integers(1, 2)) for _ in range(2))
    same = s == (1, 1) and draw(st.booleans())
    p = "same" if same else tuple(draw(st.integers(0, 2)) for _ in range(2))
    pads = (0, 0) if same else p
    hw = tuple(draw(st.integers(max(1, di * (ki - 1) + 1 - 2 * pi), di * (ki - 1) + 4))
               for ki, di, pi in zip(k, d, pads))
    return (draw(st.integers(1, 2)), cin) + hw, (cout, cin // groups) + k, s, p, d, groups, \
        draw(st.booleans())


@props(40)
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note on its own copy
@given(args=conv_args(), seed=SEED)
def test_conv2d_sizes_values_and_gradients(args, seed):
    """Output (N, C_out, floor((H + 2p - d (k - 1) - 1) / s) + 1, ...), or H, W for "same";
    values and the gradients of input, weight and bias."""
    xs, ws, s, p, d, groups, bias = args
    arrays = [_data(xs, seed), _data(ws, seed + 1)] + ([_data(ws[0], seed + 2)] if bias else [])
    kw = dict(stride=s, padding=p, dilation=d, groups=groups)
    out = check(lambda x, w, *b: F.conv2d(x, w, *b, **kw), arrays, None,
                (lambda x, w, *b: TF.conv2d(x, w, *b, **kw)) if torch is not None else None)
    if p == "same":
        want = xs[2:]
    else:
        want = tuple((n + 2 * pi - di * (ki - 1) - 1) // si + 1
                     for n, ki, si, pi, di in zip(xs[2:], ws[2:], s, p, d))
    assert tuple(out.shape) == (xs[0], ws[0]) + want


@st.composite
def conv_transpose_args(draw):
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(2))
    s = tuple(draw(st.integers(1, 3)) for _ in range(2))
    d = tuple(draw(st.integers(1, 2)) for _ in range(2))
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))  # < max(s, d)
    hw = tuple(draw(st.integers(1, 4)) for _ in range(2))
    # padding may not eat the whole output: H_out = (H-1)s - 2p + d(k-1) + op + 1 >= 1
    p = tuple(draw(st.integers(0, max(0, ((n - 1) * si + di * (ki - 1) + o) // 2)))
              for n, si, di, ki, o in zip(hw, s, d, k, op))
    return (draw(st.integers(1, 2)), cin) + hw, (cin, cout // groups) + k, s, p, op, d, groups


@props(40)
@given(args=conv_transpose_args(), seed=SEED)
def test_conv_transpose2d_sizes_values_and_gradients(args, seed):
    """H_out = (H - 1) s - 2 p + d (k - 1) + output_padding + 1; values and gradients."""
    xs, ws, s, p, op, d, groups = args
    arrays = [_data(xs, seed), _data(ws, seed + 1), _data(ws[1] * groups, seed + 2)]
    kw = dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)
    out = check(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), arrays, None,
                (lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw))
                if torch is not None else None)
    want = tuple((n - 1) * si - 2 * pi + di * (ki - 1) + oi + 1
                 for n, si, pi, di, ki, oi in zip(xs[2:], s, p, d, ws[2:], op))
    assert tuple(out.shape) == (xs[0], ws[1] * groups) + want


@props(40)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 7),
                       st.integers(1, 7)),
       size=st.tuples(st.one_of(st.none(), st.integers(1, 8)),
                      st.one_of(st.none(), st.integers(1, 8))),
       op=st.sampled_from(["adaptive_avg_pool2d", "adaptive_max_pool2d"]), seed=SEED)
def test_adaptive_pools(shape, size, op, seed):
    """Any output size (None keeps the input's; larger than the input repeats elements): bin i
    covers [floor(i H / out), ceil((i + 1) H / out))."""
    a = _data(shape, seed)
    out = check(lambda t: getattr(F, op)(t, size), [a], None,
                (lambda t: getattr(TF, op)(t, size)) if torch is not None else None)
    want = tuple(n if o is None else o for n, o in zip(shape[2:], size))
    assert tuple(out.shape) == shape[:2] + want
    if op == "adaptive_avg_pool2d":  # the bins' means, written with NumPy
        h_out, w_out = want
        ref = np.empty(shape[:2] + want)
        for i in range(h_out):
            r0, r1 = i * shape[2] // h_out, -(-(i + 1) * shape[2] // h_out)
            for j in range(w_out):
                c0, c1 = j * shape[3] // w_out, -(-(j + 1) * shape[3] // w_out)
                ref[:, :, i, j] = a[:, :, r0:r1, c0:c1].mean((2, 3))
        np.testing.assert_allclose(out.data, ref, rtol=1e-12, atol=1e-12)
