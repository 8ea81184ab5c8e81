"""Activations, softmax and dropout: float64 gradient checks and PyTorch parity (check_op),
the erf behind exact GELU, numerical stability at huge inputs, dropout's statistics."""

import math
import warnings

import numpy as np
import pytest
from helpers import check_op, rand, torch

import deepwise as dw
import deepwise.nn.functional as F
from deepwise.ops.activation import _erf, _expm1, _log1p, _normal_cdf

TF = torch.nn.functional if torch is not None else None

# shapes that exercise a batch of 1, size-1 axes, odd sizes and a transposed (non-contiguous) view
SHAPES = [rand(1, 7, seed=1), rand(3, 1, 4, seed=2), rand(5, 3, seed=3).T]


def _away_from(x: np.ndarray, points: tuple = (0.0,), gap: float = 1e-3) -> np.ndarray:
    """Nudge values off the kinks, so central differences never straddle one."""
    for p in points:
        near = np.abs(x - p) < gap
        x = np.where(near, p + np.copysign(gap, x - p + 1e-12), x)
    return x


@pytest.mark.parametrize("x", SHAPES)
def test_relu(x, kernel_path):
    x = _away_from(x)
    check_op(F.relu, [x], TF.relu if TF else None)
    check_op(lambda t: t.relu(), [x], lambda t: t.relu())


@pytest.mark.parametrize("x", SHAPES)
def test_leaky_relu(x, kernel_path):
    x = _away_from(x)
    check_op(F.leaky_relu, [x], TF.leaky_relu if TF else None)
    check_op(lambda t: F.leaky_relu(t, negative_slope=0.2), [x],
             lambda t: TF.leaky_relu(t, negative_slope=0.2))


@pytest.mark.parametrize("x", SHAPES)
def test_elu(x):
    x = _away_from(3 * x)
    check_op(F.elu, [x], TF.elu if TF else None)
    check_op(lambda t: F.elu(t, alpha=0.7), [x], lambda t: TF.elu(t, alpha=0.7))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("x", SHAPES)
def test_gelu(x, approximate, kernel_path):
    check_op(lambda t: F.gelu(t, approximate=approximate), [4 * x],
             lambda t: TF.gelu(t, approximate=approximate))


def test_gelu_numpy_path_in_blocks_gives_the_same_values():
    from deepwise.ops import activation as A
    x = rand(5, 3 * A._BLOCK // 5 + 7, seed=11).astype(np.float32) * 8
    c0, p0 = A._normal_cdf(x)
    c1, p1 = A._normal_cdf_blocked(x)
    assert c1.shape == p1.shape == x.shape
    np.testing.assert_array_equal(c1, c0)
    np.testing.assert_array_equal(p1, p0)


def test_gelu_tails_match_torch(kernel_path):
    x = np.linspace(-12, 12, 241)
    check_op(F.gelu, [x], TF.gelu if TF else None, check_grad=False)
    check_op(lambda t: F.gelu(t, approximate="tanh"), [x],
             lambda t: TF.gelu(t, approximate="tanh"), check_grad=False)


def test_erf_is_float64_accurate():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, 1e-300, -1e-8, 6.0, 6.0001, 30, -np.inf,
                                                    np.inf]])
    ref = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(_erf(x) - ref)) < 1e-15
    # the lower tail of the normal CDF keeps its relative accuracy: Phi(x) = erfc(-x/sqrt2)/2
    z = np.linspace(-8.4, 0, 2001)
    cdf, dens = _normal_cdf(z)
    want = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in z])
    assert np.max(np.abs(cdf / want - 1)) < 1e-13
    np.testing.assert_allclose(dens, np.exp(-z * z / 2), rtol=1e-13)
    assert _erf(np.zeros(3, np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_log1p_expm1_are_accurate(dtype):
    eps = np.finfo(dtype).eps
    y = np.concatenate([np.geomspace(1e-30, 1e10, 20001), -np.geomspace(1e-30, 0.999, 10001),
                        [0.0]]).astype(dtype)
    ref = np.log1p(y.astype(np.float64))
    assert np.max(np.abs(_log1p(y) - ref) / np.maximum(np.abs(ref), 1e-300)) < 4 * eps
    with np.errstate(divide="ignore"):
        assert _log1p(np.array([-1.0], dtype))[0] == -np.inf
    x = -np.concatenate([np.geomspace(1e-30, 40, 20001), [0.0]]).astype(dtype)
    ref = np.expm1(x.astype(np.float64))
    assert np.max(np.abs(_expm1(x) - ref) / np.maximum(np.abs(ref), 1e-300)) < 4 * eps
    assert _log1p(y).dtype == dtype and _expm1(x).dtype == dtype


def test_kinks_match_torch(kernel_path):
    """Values and gradients exactly at the kinks follow PyTorch's conventions."""
    x = np.array([-2.0, -1e-30, 0.0, 1e-30, 2.0, -50.0, 50.0])
    check_op(F.relu, [x], TF.relu if TF else None, check_grad=False)
    for slope in (0.2, 1.5, -0.5):
        check_op(lambda t, s=slope: F.leaky_relu(t, s), [x], lambda t, s=slope: TF.leaky_relu(t, s),
                 check_grad=False)
    for alpha in (1.0, 0.5, 1.7):
        check_op(lambda t, a=alpha: F.elu(t, a), [x], lambda t, a=alpha: TF.elu(t, a),
                 check_grad=False)
    check_op(lambda t: F.softplus(t, 2.0, 4.0), [np.array([-3.0, 0.0, 2.0, 2.5])],
             lambda t: TF.softplus(t, 2.0, 4.0), check_grad=False)


@pytest.mark.parametrize("x", SHAPES)
def test_silu(x):
    check_op(F.silu, [3 * x], TF.silu if TF else None)


@pytest.mark.parametrize("x", SHAPES)
def test_sigmoid_tanh(x):
    check_op(F.sigmoid, [4 * x], torch.sigmoid if torch else None)
    check_op(lambda t: t.sigmoid(), [4 * x], lambda t: t.sigmoid())
    check_op(F.tanh, [3 * x], torch.tanh if torch else None)
    check_op(lambda t: t.tanh(), [3 * x], lambda t: t.tanh())


def test_sigmoid_stable_for_large_inputs():
    x = np.array([-1e4, -800.0, -100.0, -20.0, 0.0, 20.0, 100.0, 800.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        for dtype in (np.float32, np.float64):
            t = dw.tensor(x, dtype=dtype, requires_grad=True)
            y = F.sigmoid(t)
            y.sum().backward()
            assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(t.grad.data))
            assert y.data[0] == 0 and y.data[-1] == 1
            # the tiny tail values keep their relative accuracy
            np.testing.assert_allclose(y.data[3], math.exp(-20) / (1 + math.exp(-20)), rtol=1e-6)
    check_op(F.sigmoid, [x], torch.sigmoid if torch else None, check_grad=False)
    check_op(F.silu, [x], TF.silu if TF else None, check_grad=False)


@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 1.5), (0.5, 0.3)])
def test_softplus(beta, threshold):
    x = 3 * rand(4, 6, seed=4)
    x = _away_from(x, (threshold / beta,), gap=1e-2)  # y jumps a little at the threshold
    check_op(lambda t: F.softplus(t, beta=beta, threshold=threshold), [x],
             lambda t: TF.softplus(t, beta=beta, threshold=threshold))
    big = np.array([-1e4, -50.0, 0.0, 30.0, 1e4])
    check_op(lambda t: F.softplus(t, beta=beta, threshold=threshold), [big],
             lambda t: TF.softplus(t, beta=beta, threshold=threshold), check_grad=False)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax(op, dim, kernel_path):
    x = 3 * rand(2, 1, 5, seed=5)
    check_op(lambda t: getattr(F, op)(t, dim), [x], lambda t: getattr(TF, op)(t, dim))
    check_op(lambda t: getattr(t, op)(dim), [x], lambda t: getattr(t, op)(dim))
    xt = rand(4, 3, seed=6).T  # non-contiguous
    check_op(lambda t: getattr(F, op)(t, dim=dim), [xt], lambda t: getattr(TF, op)(t, dim=dim))
    one = rand(1, 4, seed=7)
    check_op(lambda t: getattr(F, op)(t, dim=dim), [one], lambda t: getattr(TF, op)(t, dim=dim))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_huge_logits_stay_finite(op, kernel_path):
    x = np.array([[1e4, 0.0, -1e4, 1e4 - 1], [-1e4, -1e4, -1e4 + 2, -1e4 + 1]])
    for dtype in (np.float32, np.float64):
        t = dw.tensor(x, dtype=dtype, requires_grad=True)
        y = getattr(F, op)(t, dim=1)
        (y * dw.tensor(rand(2, 4, seed=8), dtype=dtype)).sum().backward()
        assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(t.grad.data))
    check_op(lambda t: getattr(F, op)(t, dim=1), [x], lambda t: getattr(TF, op)(t, dim=1),
             check_grad=False)
    p = F.softmax(dw.tensor(x), dim=1).data
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_kernel_equals_numpy_path(op, dtype):
    """The row kernels (last dim, C-contiguous) give the NumPy path's values and gradients, also
    with -inf logits and an all -inf row (NaN on both paths, as in PyTorch), short and long rows."""
    from deepwise import kernels
    if not kernels.available():
        pytest.skip("numba is not installed: the kernel path is not tested")
    for shape in ((3, 5, 7), (2, 128), (2, 6104), (4, 1)):
        x = (4 * rand(*shape, seed=9)).astype(dtype)
        x.reshape(-1, shape[-1])[0, :2] = -np.inf
        if shape[-1] > 1:
            x.reshape(-1, shape[-1])[1] = -np.inf
        g = rand(*shape, seed=10).astype(dtype)
        res = []
        for flag in (False, True):
            t = dw.from_numpy(x.copy()).requires_grad_(True)
            with kernels.use_numba(flag), np.errstate(invalid="ignore"):
                y = getattr(F, op)(t, dim=-1)
                y.backward(dw.from_numpy(g))
            assert y.dtype == dtype and t.grad.dtype == dtype
            res.append((y.data, t.grad.data))
        (y0, g0), (y1, g1) = res
        tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(y1, y0, err_msg=str(shape), **tol)
        np.testing.assert_allclose(g1, g0, err_msg=str(shape), **tol)
        if shape[-1] > 1:
            assert np.all(np.isnan(y1.reshape(-1, shape[-1])[1]))


def test_softmax_dtype_and_scalar(kernel_path):
    x = dw.tensor([1.0, 2.0, 3.0])
    assert F.softmax(x, 0, dtype=dw.float64).dtype == np.float64
    assert F.log_softmax(x, -1, dtype=dw.float64).dtype == np.float64
    s = dw.tensor(2.0, requires_grad=True)
    y = F.softmax(s, 0)
    assert y.shape == () and y.item() == 1.0
    assert F.log_softmax(s, -1).item() == 0.0


def test_activation_errors():
    x = dw.randn(2, 3)
    with pytest.raises(IndexError, match=r"softmax: dim 2 is out of range .* 2 dimension"):
        F.softmax(x, 2)
    with pytest.raises(IndexError, match=r"log_softmax: dim -3"):
        F.log_softmax(x, dim=-3)
    with pytest.raises(TypeError, match="dim must be an int"):
        F.softmax(x, dim=None)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'x'"):
        F.gelu(x, approximate="x")
    with pytest.raises(ValueError, match=r"dropout: probability .* got p=1.5"):
        F.dropout(x, p=1.5)


# ---- dropout ------------------------------------------------------------------------------------


def test_dropout_statistics(kernel_path):
    p = 0.3
    x = dw.ones(200, 500)
    y = F.dropout(x, p=p).data
    zeroed = np.mean(y == 0)
    assert abs(zeroed - p) < 0.01  # sd of the fraction is 0.0015
    assert abs(y.mean() - 1) < 0.015  # inverted dropout keeps the mean (sd 0.002)
    np.testing.assert_allclose(np.unique(y), [0, 1 / (1 - p)], rtol=1e-6)
    assert y.dtype == np.float32


def test_dropout_repeatable_with_manual_seed(kernel_path):
    x = dw.randn(64, 32)
    dw.manual_seed(123)
    a = F.dropout(x, 0.5).data
    b = F.dropout(x, 0.5).data
    dw.manual_seed(123)
    c = F.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_dropout_gradient_masks_the_same_entries(kernel_path):
    p = 0.4
    x = dw.tensor(rand(30, 20, seed=9) + 2.0, requires_grad=True)  # nonzero everywhere
    y = F.dropout(x, p=p)
    w = rand(30, 20, seed=10)
    (y * dw.tensor(w)).sum().backward()
    kept = y.data != 0
    assert 0.4 < kept.mean() < 0.8
    np.testing.assert_allclose(x.grad.data, np.where(kept, w / (1 - p), 0), rtol=1e-6)
    np.testing.assert_allclose(y.data, np.where(kept, x.data / (1 - p), 0), rtol=1e-6)


def test_dropout_gradcheck_with_a_fixed_mask(kernel_path):
    def fixed(t):
        dw.manual_seed(7)
        return F.dropout(t, p=0.35)

    check_op(fixed, [rand(6, 5, seed=11)])
    check_op(fixed, [rand(5, 6, seed=12).T])


def test_dropout_eval_and_edge_probabilities(kernel_path):
    x = dw.randn(4, 5, requires_grad=True)
    assert F.dropout(x, p=0.5, training=False) is x
    assert F.dropout(x, p=0.0) is x
    y = F.dropout(x, p=1.0)
    assert np.all(y.data == 0)
    y.sum().backward()
    assert np.all(x.grad.data == 0)


def _dense_layouts(x: np.ndarray) -> dict:
    """The layouts an activation meets: contiguous, an NCHW view of NHWC memory (conv2d's
    output), Fortran order, and a strided view that is not dense (the NumPy path)."""
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return {"contiguous": x.copy(), "channels_last": nhwc.transpose(0, 3, 1, 2),
            "fortran": np.asfortranarray(x),
            "strided": np.repeat(x, 2, axis=-1)[..., ::2]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["relu", "leaky_relu", "leaky_relu_1.5", "dropout", "gelu",
                                "gelu_tanh"])
def test_kernel_equals_numpy_path(op, dtype):
    """deepwise.kernels' one-pass ReLU / LeakyReLU / dropout / GELU give the NumPy path's values and
    gradients bit for bit, for every layout (the gradient in the input's layout or not), keep
    the input's layout, and dropout draws the same mask from the same seed."""
    from deepwise import kernels
    if not kernels.available():
        pytest.skip("numba is not installed: the kernel path is not tested")
    fn = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.1),
          "leaky_relu_1.5": lambda t: F.leaky_relu(t, 1.5),
          "dropout": lambda t: F.dropout(t, 0.3), "gelu": F.gelu,
          "gelu_tanh": lambda t: F.gelu(t, approximate="tanh")}[op]
    x = np.round(rand(3, 4, 5, 6, seed=4) * 4) / 2  # exact zeros at the kink
    if op.startswith("gelu"):  # and both tails, past the clamp at |x| / sqrt2 = 6
        x = x + rand(3, 4, 5, 6, seed=6) * np.where(rand(3, 4, 5, 6, seed=7) > 0.5, 6, 0.3)
    g = rand(3, 4, 5, 6, seed=5)
    for xl, xa in _dense_layouts(x.astype(dtype)).items():
        for gl, ga in _dense_layouts(g.astype(dtype)).items():
            res = []
            for flag in (False, True):
                dw.manual_seed(3)
                t = dw.from_numpy(xa.copy(order="K") if xl != "strided" else xa)
                t.requires_grad_(True)
                with kernels.use_numba(flag):
                    y = fn(t)
                    y.backward(dw.from_numpy(ga))
                assert y.dtype == dtype and t.grad.dtype == dtype
                res.append((y.data, t.grad.data))
            (y0, g0), (y1, g1) = res
            if op.startswith("gelu"):  # the same arithmetic; compiled code rounds 1 ulp apart
                tol = dict(rtol=4e-7, atol=1e-30) if dtype == np.float32 else dict(rtol=1e-15)
                np.testing.assert_allclose(y1, y0, err_msg=f"{xl} {gl}", **tol)
                np.testing.assert_allclose(g1, g0, err_msg=f"{xl} {gl}", **tol)
            else:
                np.testing.assert_array_equal(y1, y0, err_msg=f"{xl} {gl}")
                np.testing.assert_array_equal(g1, g0, err_msg=f"{xl} {gl}")
            if xl in ("contiguous", "channels_last") and op != "dropout":
                assert y1.strides == xa.strides


def test_float16_takes_the_numpy_path(kernel_path):
    """numba has no float16: half inputs run (the NumPy path) and agree with float32."""
    x = rand(4, 6, seed=6)
    for fn in (F.relu, lambda t: F.leaky_relu(t, 0.1), lambda t: F.dropout(t, 0.3), F.gelu,
               lambda t: F.gelu(t, approximate="tanh")):
        res = []
        for dtype in (np.float16, np.float32):
            dw.manual_seed(5)
            t = dw.from_numpy(x.astype(dtype)).requires_grad_(True)
            y = fn(t)
            y.sum().backward()
            assert y.dtype == dtype and t.grad.dtype == dtype
            res.append((y.data, t.grad.data))
        np.testing.assert_allclose(res[0][0], res[1][0], rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(res[0][1], res[1][1], rtol=2e-3, atol=2e-3)


def test_functional_exports():
    for name in ["relu", "gelu", "softmax", "log_softmax", "dropout", "cross_entropy", "one_hot",
                 "linear", "pad", "mse_loss", "binary_cross_entropy_with_logits"]:
        assert name in F.__all__ and callable(getattr(F, name)), name
    assert F.linear is dw.ops.linalg.linear
