"""Pooling and interpolate: float64 gradient checks and PyTorch parity (values, gradients and
return_indices) on odd, non-square shapes."""

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

MAX_CASES = [
    dict(kernel_size=2),                                          # stride == kernel, 7x9 floor
    dict(kernel_size=(3, 2), stride=2, padding=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=1, padding=1, dilation=2),
    dict(kernel_size=(2, 3), stride=(3, 2), padding=1, ceil_mode=True),
    dict(kernel_size=(3, 1), stride=(1, 2)),
    dict(kernel_size=(2, 3)),                      # big tiles: argmax over tile copies
]


@pytest.mark.parametrize("kw", MAX_CASES)
def test_max_pool2d_with_indices(kw, kernel_path):
    x = rand(2, 8, 7, 9)  # 8 channels: the kernel path takes NCHW memory too
    check_op(lambda x: dw.max_pool2d(x, **kw, return_indices=True), [x],
             lambda x: F.max_pool2d(x, **kw, return_indices=True))


@pytest.mark.parametrize("shape,kw", [((2, 8, 8, 6), dict(kernel_size=2)),
                                      ((2, 8, 6, 9), dict(kernel_size=3)),
                                      ((2, 3, 7, 6), dict(kernel_size=2)),
                                      ((1, 2, 6, 6), dict(kernel_size=2, stride=3, dilation=2))])
def test_max_pool2d_windows_that_tile_the_input_or_leave_a_rest(shape, kw, kernel_path):
    """Windows covering the input exactly (the backward writes every element once, into an
    uninitialised buffer); a 7-row input whose last row no window reads; dilated windows that
    sit side by side but skip every other element (gradient 0 there)."""
    check_op(lambda x: dw.max_pool2d(x, **kw), [rand(*shape)], lambda x: F.max_pool2d(x, **kw))


def test_max_pool2d_batch1_noncontiguous_unbatched(kernel_path):
    x = rand(8, 6, 2, 1).transpose(3, 2, 1, 0)  # (1, 2, 6, 8), a transposed view
    check_op(lambda x: dw.max_pool2d(x, 2, 1), [x], lambda x: F.max_pool2d(x, 2, 1))
    check_op(lambda x: dw.max_pool2d(x, 3, 2, 1), [rand(2, 5, 6)],
             lambda x: F.max_pool2d(x, 3, 2, 1))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                dict(kernel_size=3)])
def test_max_pool2d_ties_take_the_first_max(kw, kernel_path):
    """After a ReLU many windows hold equal values: the gradient goes to the first (row-major)
    one only, as PyTorch's argmax; gradients and indices equal PyTorch's."""
    x = np.maximum(np.round(rand(2, 8, 6, 8) * 2), 0)
    check_op(lambda x: dw.max_pool2d(x, **kw, return_indices=True), [x],
             lambda x: F.max_pool2d(x, **kw, return_indices=True), check_grad=False)


def test_max_pool2d_after_conv_channels_last(kernel_path):
    """conv2d returns NCHW views of NHWC memory; pooling them gives the same answers."""
    x, w = rand(2, 3, 8, 7), rand(5, 3, 3, 3, seed=1)
    check_op(lambda x, w: dw.max_pool2d(dw.conv2d(x, w, padding=1), 2, ceil_mode=True), [x, w],
             lambda x, w: F.max_pool2d(F.conv2d(x, w, padding=1), 2, ceil_mode=True))


@pytest.mark.parametrize("args", [(3, 2, 1, 1, False), (2, None, 0, 2, True), (4, 3, 2, 1, True)])
def test_max_pool1d(args, kernel_path):
    k, s, p, d, ceil = args
    check_op(lambda x: dw.max_pool1d(x, k, s, p, d, ceil, return_indices=True), [rand(2, 8, 11)],
             lambda x: F.max_pool1d(x, k, s, p, d, ceil, return_indices=True))
    check_op(lambda x: dw.max_pool1d(x, k, s, p, d, ceil), [rand(3, 10)],
             lambda x: F.max_pool1d(x, k, s, p, d, ceil))


@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("kw", [
    dict(kernel_size=2), dict(kernel_size=(3, 2), stride=2, padding=1), dict(kernel_size=(3, 2)),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 4), stride=(3, 1), padding=(1, 2), ceil_mode=True),
])
def test_avg_pool2d(kw, include_pad, kernel_path):
    check_op(lambda x: dw.avg_pool2d(x, **kw, count_include_pad=include_pad), [rand(2, 8, 7, 9)],
             lambda x: F.avg_pool2d(x, **kw, count_include_pad=include_pad))


def test_avg_pool_divisor_override_1d_unbatched(kernel_path):
    check_op(lambda x: dw.avg_pool2d(x, 3, 2, 1, divisor_override=5), [rand(1, 8, 6, 5)],
             lambda x: F.avg_pool2d(x, 3, 2, 1, divisor_override=5))
    check_op(lambda x: dw.avg_pool1d(x, 3, 2, 1, True, False), [rand(2, 8, 10)],
             lambda x: F.avg_pool1d(x, 3, 2, 1, True, False))
    check_op(lambda x: dw.avg_pool2d(x, 2), [rand(3, 5, 4)], lambda x: F.avg_pool2d(x, 2))


@pytest.mark.parametrize("size", [(4, 3), (3, 9), 1, (None, 4), (12, 10), (7, 3)])
def test_adaptive_pools(size, kernel_path):
    """Non-divisible (overlapping bins), divisible (a plain pool), None, larger than the input."""
    x = rand(2, 8, 7, 9)
    check_op(lambda x: dw.adaptive_avg_pool2d(x, size), [x],
             lambda x: F.adaptive_avg_pool2d(x, size))
    check_op(lambda x: dw.adaptive_max_pool2d(x, size, return_indices=True), [x],
             lambda x: F.adaptive_max_pool2d(x, size, return_indices=True))


def test_adaptive_max_pool2d_ties_unbatched():
    x = np.maximum(np.round(rand(3, 7, 6) * 2), 0)
    check_op(lambda x: dw.adaptive_max_pool2d(x, (3, 4), return_indices=True), [x],
             lambda x: F.adaptive_max_pool2d(x, (3, 4), return_indices=True), check_grad=False)
    out = dw.adaptive_max_pool2d(dw.tensor(x), (3, 4))
    assert isinstance(out, dw.Tensor) and out.shape == (3, 3, 4)


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False),
                                        ("bilinear", True)])
@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(size=(5, 11)),
                                dict(scale_factor=1.7), dict(scale_factor=(0.5, 2.3)),
                                dict(size=(9, 4)), dict(size=(12, 5)),
                                dict(scale_factor=(4, 1)), dict(scale_factor=3),
                                dict(scale_factor=3, recompute_scale_factor=True)])
def test_interpolate_2d(kw, mode, align):
    check_op(lambda x: dw.interpolate(x, **kw, mode=mode, align_corners=align), [rand(2, 3, 6, 5)],
             lambda x: F.interpolate(x, **kw, mode=mode, align_corners=align))


@pytest.mark.parametrize("mode,align", [("nearest", None), ("linear", False), ("linear", True)])
def test_interpolate_1d_and_upsample(mode, align):
    check_op(lambda x: dw.interpolate(x, scale_factor=2.5, mode=mode, align_corners=align),
             [rand(1, 3, 7)], lambda x: F.interpolate(x, scale_factor=2.5, mode=mode,
                                                      align_corners=align))
    check_op(lambda x: dw.interpolate(x, size=4, mode=mode, align_corners=align), [rand(2, 2, 9)],
             lambda x: F.interpolate(x, size=4, mode=mode, align_corners=align))
    check_op(lambda x: dw.upsample(x, size=(3, 8)), [rand(1, 2, 3, 4)],
             lambda x: F.interpolate(x, size=(3, 8)))


def test_interpolate_same_size_is_a_copy():
    x = dw.tensor(rand(1, 2, 3, 4).astype(np.float32))
    y = dw.interpolate(x, size=(3, 4), mode="bilinear")
    assert np.array_equal(y.data, x.data) and not np.shares_memory(y.data, x.data)


def _t(*shape):
    return dw.zeros(*shape)


def test_pool_errors():
    with pytest.raises(ShapeError, match=r"max_pool2d: input \(1, 2, 2, 2\) is smaller than the "
                       r"kernel \(3, 3\)"):
        dw.max_pool2d(_t(1, 2, 2, 2), 3)
    with pytest.raises(ValueError, match="max_pool2d: padding .* at most half of the kernel"):
        dw.max_pool2d(_t(1, 2, 8, 8), 3, padding=2)
    with pytest.raises(ShapeError, match=r"avg_pool2d: expected input \(N, C, H, W\) or "
                       r"\(C, H, W\), got \(5, 5\)"):
        dw.avg_pool2d(_t(5, 5), 2)
    with pytest.raises(ShapeError, match=r"max_pool1d: expected input \(N, C, L\)"):
        dw.max_pool1d(_t(1, 2, 5, 5), 2)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size"):
        dw.adaptive_avg_pool2d(_t(1, 2, 5, 5), (1, 2, 3))
    with pytest.raises(ShapeError, match=r"interpolate: mode 'bilinear' expects input "
                       r"\(N, C, H, W\), got \(1, 2, 5\)"):
        dw.interpolate(_t(1, 2, 5), size=4, mode="bilinear")
    with pytest.raises(ValueError, match="interpolate: give exactly one of size"):
        dw.interpolate(_t(1, 2, 5, 5), size=4, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners can only be set"):
        dw.interpolate(_t(1, 2, 5, 5), size=4, align_corners=True)


def _layouts(x: np.ndarray) -> dict:
    """The memory layouts a pool's input and gradient really have: contiguous NCHW, NCHW views
    of NHWC memory (conv2d's output), and such a view inside a padded buffer (conv2d's input
    gradient)."""
    n, c, h, w = x.shape
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    padded = np.zeros((n, h + 2, w + 2, c), x.dtype)
    padded[:, 1:-1, 1:-1] = nhwc
    return {"nchw": x.copy(), "channels_last": nhwc.transpose(0, 3, 1, 2),
            "padded_view": padded[:, 1:-1, 1:-1].transpose(0, 3, 1, 2)}


def _both_paths(pool, x: np.ndarray, g: np.ndarray, dtype) -> dict:
    """Run ``pool`` (input tensor -> tuple of output tensors, the first the pooled values) with
    deepwise.kernels off and on, for every layout of the input and of the upstream gradient:
    {(kernels on, input layout, gradient layout): (output arrays..., input gradient)}."""
    from deepwise import kernels
    if not kernels.available():
        pytest.skip("numba is not installed: the kernel path is not tested")
    results = {}
    for flag in (False, True):
        for xl, xa in _layouts(x.astype(dtype)).items():
            for gl in ("nchw", "channels_last", "padded_view"):
                t = dw.from_numpy(xa).requires_grad_(True)
                with kernels.use_numba(flag):
                    outs = pool(t)
                    ga = _layouts(g[:, :, :outs[0].shape[2], :outs[0].shape[3]].astype(dtype))[gl]
                    outs[0].backward(dw.from_numpy(ga))
                assert outs[0].dtype == dtype and t.grad.dtype == dtype
                results[flag, xl, gl] = tuple(o.data for o in outs) + (t.grad.data,)
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", MAX_CASES + [dict(kernel_size=2, stride=1),
                                            dict(kernel_size=4, stride=3, padding=2)])
def test_max_pool2d_kernel_equals_numpy_path(kw, dtype):
    """deepwise.kernels' one-pass max pool against the NumPy reference, for every layout of the
    input and of the upstream gradient: the same maxima, indices and gradients (bit for bit;
    overlapping windows add in another order: to rounding), and the kernel's output is in NHWC
    memory."""
    x = np.round(rand(3, 8, 9, 11) * 3)  # ties, as after a ReLU; 8 channels: NCHW takes the
    g = rand(3, 8, 9, 11, seed=2)          # kernel too
    results = _both_paths(lambda t: dw.max_pool2d(t, **kw, return_indices=True), x, g, dtype)
    for (flag, *_), (out, _, _) in results.items():
        if flag:  # the kernel writes the output in NHWC memory
            assert out.strides[1] < out.strides[3]
    ref_out, ref_idx, ref_grad = results[False, "nchw", "nchw"]
    overlap = kw.get("stride", kw["kernel_size"]) != kw["kernel_size"]
    for key, (out, idx, grad) in results.items():
        np.testing.assert_array_equal(out, ref_out, err_msg=str(key))
        np.testing.assert_array_equal(idx, ref_idx, err_msg=str(key))
        if overlap:
            np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-6, err_msg=str(key))
        else:
            np.testing.assert_array_equal(grad, ref_grad, err_msg=str(key))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=(3, 2), stride=2, padding=1),
                                dict(kernel_size=(3, 2)), dict(kernel_size=3, stride=1),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                     count_include_pad=False)])
def test_avg_pool2d_kernel_equals_numpy_path(kw, dtype):
    """deepwise.kernels' average pool against the NumPy reference for every layout of input
    and gradient: the same values and gradients (bit for bit where both add in the same order:
    windows of up to 4 elements that do not overlap; else to rounding)."""
    x, g = rand(3, 8, 9, 11), rand(3, 8, 9, 11, seed=2)
    results = _both_paths(lambda t: (dw.avg_pool2d(t, **kw),), x, g, dtype)
    ref_out, ref_grad = results[False, "nchw", "nchw"]
    k = kw["kernel_size"]
    exact = kw.get("stride", k) == k and np.prod(k) <= 4
    for key, (out, grad) in results.items():
        if exact:
            np.testing.assert_array_equal(out, ref_out, err_msg=str(key))
            np.testing.assert_array_equal(grad, ref_grad, err_msg=str(key))
        else:
            np.testing.assert_allclose(out, ref_out, rtol=1e-6, atol=1e-6, err_msg=str(key))
            np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-6, err_msg=str(key))


def test_pools_float16_take_the_numpy_path(kernel_path):
    """numba has no float16: half inputs run (the NumPy path) and agree with float32."""
    x = rand(2, 8, 6, 6)
    for fn in (lambda t: dw.max_pool2d(t, 2), lambda t: dw.avg_pool2d(t, 3, 1, 1)):
        h = dw.from_numpy(x.astype(np.float16)).requires_grad_(True)
        f = dw.from_numpy(x.astype(np.float32)).requires_grad_(True)
        yh, yf = fn(h), fn(f)
        yh.sum().backward()
        yf.sum().backward()
        assert yh.dtype == np.float16 and h.grad.dtype == np.float16
        np.testing.assert_allclose(yh.data, yf.data, rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(h.grad.data, f.grad.data, rtol=2e-3, atol=2e-3)
