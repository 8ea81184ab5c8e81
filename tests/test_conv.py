"""conv1d, conv2d, conv_transpose2d: float64 gradient checks and PyTorch parity on odd shapes,
each through both paths (``kernel_path``: the NumPy reference and deepwise.kernels.conv)."""

import numpy as np
import pytest
from helpers import check_op, rand

import deepwise as dw
from deepwise import kernels
from deepwise.autograd import ShapeError
from deepwise.ops import conv as conv_ops

try:
    import torch.nn.functional as F
except ImportError:
    F = None


@pytest.mark.parametrize("cin,cout,groups,kernel,stride,padding,dilation,hw", [
    (3, 4, 1, (3, 2), 2, 1, 1, (7, 6)),          # non-square kernel, stride 2 + padding
    (2, 3, 1, (2, 3), (1, 2), (2, 0), 2, (8, 9)),  # dilation 2, per-axis stride/padding
    (4, 6, 2, 3, 1, 1, 1, (5, 4)),               # groups 2 (4 channels: one window copy)
    (3, 6, 3, (3, 3), 2, 1, (2, 1), (7, 7)),     # depthwise, channel multiplier 2
    (8, 5, 1, 3, 1, 0, 1, (4, 5)),               # 8 channels: the one-copy im2col path
    (8, 4, 2, (2, 3), 2, (1, 0), (2, 1), (6, 7)),  # the one-copy path with groups
])
def test_conv2d(cin, cout, groups, kernel, stride, padding, dilation, hw, kernel_path):
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    x, w, b = rand(2, cin, *hw), rand(cout, cin // groups, *k, seed=1), rand(cout, seed=2)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check_op(lambda x, w, b: dw.conv2d(x, w, b, **args), [x, w, b],
             lambda x, w, b: F.conv2d(x, w, b, **args))


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("kernel,dilation", [((4, 2), 1), ((3, 4), 2), ((1, 5), (1, 2))])
def test_conv2d_same_padding_even_kernels_batch1(kernel, dilation, kernel_path):
    x, w = rand(1, 3, 6, 7), rand(2, 3, *kernel, seed=1)
    check_op(lambda x, w: dw.conv2d(x, w, padding="same", dilation=dilation), [x, w],
             lambda x, w: F.conv2d(x, w, padding="same", dilation=dilation))
    y = dw.conv2d(dw.tensor(x), dw.tensor(w), padding="same", dilation=dilation)
    assert y.shape == (1, 2, 6, 7)


def test_conv2d_valid_no_bias_noncontiguous(kernel_path):
    x = rand(5, 6, 2, 2).transpose(3, 2, 1, 0)    # (2, 2, 6, 5), a transposed view
    w = rand(3, 3, 2, 4, seed=1).transpose(3, 2, 1, 0)  # (4, 2, 3, 3)
    check_op(lambda x, w: dw.conv2d(x, w, padding="valid"), [x, w],
             lambda x, w: F.conv2d(x, w, padding="valid"))


def test_conv2d_unbatched_and_channels_last_chain(kernel_path):
    """(C, H, W) input; a conv2d output (NHWC memory) fed to another conv2d."""
    x, w1, w2 = rand(3, 6, 5), rand(4, 3, 3, 3, seed=1), rand(2, 4, 2, 2, seed=2)
    check_op(lambda x, a, b: dw.conv2d(dw.conv2d(x, a, padding=1), b, stride=2), [x, w1, w2],
             lambda x, a, b: F.conv2d(F.conv2d(x, a, padding=1), b, stride=2))


def test_conv2d_float32_parity_larger(kernel_path):
    """The sizes of the reference net's second layer, shrunk: values and grads vs PyTorch."""
    x, w, b = rand(4, 32, 14, 14), rand(64, 32, 3, 3, seed=1) * 0.1, rand(64, seed=2)
    check_op(lambda x, w, b: dw.conv2d(x, w, b, padding=1), [x, w, b],
             lambda x, w, b: F.conv2d(x, w, b, padding=1), check_grad=False, rtol=1e-4,
             atol=1e-4)


def test_conv2d_only_the_needed_gradients(kernel_path):
    x = dw.tensor(rand(2, 3, 5, 5).astype(np.float32))
    w = dw.tensor(rand(4, 3, 3, 3, seed=1).astype(np.float32), requires_grad=True)
    dw.conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad is not None and w.grad.shape == (4, 3, 3, 3)


@pytest.mark.parametrize("stride,padding,dilation,groups,n", [
    (1, 0, 1, 1, 2), (2, 1, 1, 1, 1), (1, 2, 2, 2, 2), (3, 1, 1, 4, 1)])
def test_conv1d(stride, padding, dilation, groups, n, kernel_path):
    x, w, b = rand(n, 4, 11), rand(8, 4 // groups, 3, seed=1), rand(8, seed=2)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check_op(lambda x, w, b: dw.conv1d(x, w, b, **args), [x, w, b],
             lambda x, w, b: F.conv1d(x, w, b, **args))


def test_conv1d_same_and_unbatched(kernel_path):
    x, w = rand(3, 9), rand(2, 3, 4, seed=1)
    check_op(lambda x, w: dw.conv1d(x, w, padding="same"), [x, w],
             lambda x, w: F.conv1d(x, w, padding="same"))


@pytest.mark.parametrize("cin,cout,groups,kernel,stride,padding,out_pad,dilation,hw", [
    (3, 2, 1, 3, 2, 1, 1, 1, (4, 3)),              # the decoder's up-sampling step
    (4, 6, 2, (2, 3), (2, 3), (0, 1), (1, 2), 1, (3, 4)),
    (2, 3, 1, 3, 1, 0, 0, 2, (3, 3)),              # dilation 2
    (2, 2, 1, (3, 2), 2, 0, (0, 1), 1, (1, 5)),    # a 1-row input, batch of 1 below
    (4, 8, 2, 2, 2, 1, 0, (1, 2), (3, 3)),         # 4 out channels per group: one-copy im2col
])
def test_conv_transpose2d(cin, cout, groups, kernel, stride, padding, out_pad, dilation, hw,
                          kernel_path):
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    n = 1 if hw[0] == 1 else 2
    x, w, b = rand(n, cin, *hw), rand(cin, cout // groups, *k, seed=1), rand(cout, seed=2)
    args = dict(stride=stride, padding=padding, output_padding=out_pad, groups=groups,
                dilation=dilation)
    check_op(lambda x, w, b: dw.conv_transpose2d(x, w, b, **args), [x, w, b],
             lambda x, w, b: F.conv_transpose2d(x, w, b, **args))


def test_conv_transpose2d_unbatched_noncontiguous(kernel_path):
    x = rand(4, 5, 3).transpose(2, 1, 0)  # (3, 5, 4)
    w = rand(3, 2, 2, 2, seed=1)
    check_op(lambda x, w: dw.conv_transpose2d(x, w, stride=2), [x, w],
             lambda x, w: F.conv_transpose2d(x, w, stride=2))


@pytest.mark.parametrize("groups,stride,dilation,padding", [
    (1, 1, 1, 1), (2, 2, 1, (1, 0)), (4, 1, 2, 2), (1, (2, 1), (1, 2), "valid")])
def test_conv2d_channels_last_input_float32_parity(groups, stride, dilation, padding,
                                                   kernel_path):
    """Input in a conv output's layout (an NCHW view of NHWC memory), the case of every conv
    after the first; 8 channels per group, float32 values and all gradients vs PyTorch."""
    x = rand(3, 9, 10, 16).transpose(0, 3, 1, 2)  # (3, 16, 9, 10), channels innermost
    w, b = rand(12, 16 // groups, 3, 3, seed=1) * 0.3, rand(12, seed=2)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    check_op(lambda x, w, b: dw.conv2d(x, w, b, **args), [x, w, b],
             lambda x, w, b: F.conv2d(x, w, b, **args), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not kernels.available(), reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("one_image_blocks", [False, True])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_kernel_path_matches_numpy_path(dtype, layout, one_image_blocks, groups,
                                               monkeypatch):
    """The compiled path gives the NumPy path's results bit for bit: the same forward (the same
    im2col matrix, the same GEMM), weight and bias gradients, and input gradient (one GEMM for
    all offsets + a scatter instead of one GEMM per offset: each entry is the same dot product,
    and every dx element sums its window entries in the same order), also when the scatter's
    blocks of images hold one image each."""
    if one_image_blocks:
        monkeypatch.setattr(conv_ops, "_CHUNK", 1)
    xs = rand(4, 6, 7, 8).astype(dtype)  # NHWC memory: (N, C, H, W) = (4, 8, 6, 7)
    x = np.ascontiguousarray(xs.transpose(0, 3, 1, 2)) if layout == "nchw" else xs.transpose(
        0, 3, 1, 2)
    w = rand(10, 8 // groups, 3, 2, seed=1).astype(dtype)
    b, g = rand(10, seed=2).astype(dtype), rand(4, 10, 3, 9, seed=3).astype(dtype)
    res = []
    for on in (False, True):
        with kernels.use_numba(on):
            xt, wt, bt = (dw.from_numpy(a.copy(order="K")).requires_grad_() for a in (x, w, b))
            y = dw.conv2d(xt, wt, bt, stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                          groups=groups)
            y.backward(dw.from_numpy(g))
            res.append([y.data, xt.grad.data, wt.grad.data, bt.grad.data])
    (y0, dx0, dw0, db0), (y1, dx1, dw1, db1) = res
    assert y0.dtype == y1.dtype == dx1.dtype == dtype
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(dw1, dw0)
    np.testing.assert_array_equal(db1, db0)
    np.testing.assert_array_equal(dx1, dx0)


@pytest.mark.skipif(not kernels.available(), reason="numba is not installed")
def test_conv_kernels_im2col_col2im_are_adjoint():
    """<im2col(x), c> == <x, col2im(c)> for random x and c, with padding, stride, dilation and
    groups: col2im adds each entry back exactly where im2col read it from (and drops padding)."""
    from deepwise.kernels import conv as kconv
    x = rand(2, 7, 8, 6)
    geom = dict(ksize=(3, 2), stride=(2, 1), dil=(2, 1), pads=(2, 1, 1, 0), out_hw=(4, 8))
    cols = kconv.im2col(x, 3, **geom)
    assert cols.shape == (3, 2 * 4 * 8, 3 * 2 * 2)
    c = rand(*cols.shape, seed=1)
    back = kconv.col2im(c, np.full_like(x, np.nan), **geom)  # every entry overwritten
    np.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.int64])
def test_conv2d_other_dtypes_take_the_numpy_path(dtype, kernel_path):
    """float16 and integer convs (no compiled kernels for them) give the float64 result."""
    x, w = rand(2, 3, 5, 6, high=3).round(), rand(4, 3, 3, 3, seed=1, high=3).round()
    want = dw.conv2d(dw.from_numpy(x), dw.from_numpy(w), padding=1, stride=(1, 2)).data
    xt, wt = dw.from_numpy(x.astype(dtype)), dw.from_numpy(w.astype(dtype))
    y = dw.conv2d(xt, wt, padding=1, stride=(1, 2))
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data.astype(np.float64), want, rtol=1e-2)
    yt = dw.conv_transpose2d(xt, wt.transpose(0, 1), stride=2)
    assert yt.dtype == dtype


def _t(*shape):
    return dw.zeros(*shape)


def test_conv_errors_name_op_and_shapes():
    with pytest.raises(ShapeError, match=r"conv2d: expected input with 3 channels \(weight "
                       r"\(16, 3, 5, 5\), groups 1\), got input \(8, 1, 28, 28\)"):
        dw.conv2d(_t(8, 1, 28, 28), _t(16, 3, 5, 5))
    with pytest.raises(ShapeError, match=r"conv2d: input \(1, 3, 2, 2\).*smaller than the "
                       r"kernel \(3, 3\)"):
        dw.conv2d(_t(1, 3, 2, 2), _t(4, 3, 3, 3))
    with pytest.raises(ShapeError, match="conv2d: groups 3 must divide"):
        dw.conv2d(_t(1, 6, 5, 5), _t(4, 2, 3, 3), groups=3)
    with pytest.raises(ShapeError, match=r"conv2d: expected bias \(4,\)"):
        dw.conv2d(_t(1, 3, 5, 5), _t(4, 3, 3, 3), _t(3))
    with pytest.raises(ShapeError, match=r"conv2d: expected input \(N, C, H, W\)"):
        dw.conv2d(_t(5, 5), _t(4, 3, 3, 3))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        dw.conv2d(_t(1, 3, 5, 5), _t(4, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ShapeError, match=r"conv1d: expected input with 4 channels"):
        dw.conv1d(_t(2, 3, 9), _t(6, 2, 3), groups=2)
    with pytest.raises(ValueError, match="output_padding .* must be smaller"):
        dw.conv_transpose2d(_t(1, 3, 4, 4), _t(3, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ShapeError, match=r"conv_transpose2d: expected input with 3 channels"):
        dw.conv_transpose2d(_t(1, 2, 4, 4), _t(3, 2, 3, 3))
