"""Losses: float64 gradient checks and PyTorch parity (values and gradients) for every
reduction and option, PyTorch's weighted-mean rule, stability at extreme inputs, error messages."""

import numpy as np
import pytest
from helpers import check_op, rand, torch

import deepwise as dw
import deepwise.nn.functional as F
from deepwise.autograd import ShapeError

TF = torch.nn.functional if torch is not None else None
REDUCTIONS = ["mean", "sum", "none"]


def _classes(*shape, n, seed=0, ignore=None, frac=0.3):
    """Random int64 class indices in [0, n); a fraction set to ``ignore`` if given."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, n, size=shape)
    if ignore is not None:
        t[rng.random(shape) < frac] = ignore
        t.flat[0] = 0  # at least one entry counts
    return t


def _probs(*shape, seed=0, axis=1):
    p = rand(*shape, seed=seed, low=0.05, high=1.0)
    return p / p.sum(axis=axis, keepdims=True)


def _weight(n, seed=0):
    return rand(n, seed=seed, low=0.2, high=2.0)


# ---- cross_entropy ------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_indices(reduction, kernel_path):
    x, t = 2 * rand(5, 4, seed=1), _classes(5, n=4, seed=2)
    check_op(lambda a, b: F.cross_entropy(a, b, reduction=reduction), [x, t],
             lambda a, b: TF.cross_entropy(a, b, reduction=reduction))
    xt = 2 * rand(4, 6, seed=3).T  # non-contiguous (6, 4)
    check_op(lambda a, b: F.cross_entropy(a, b, reduction=reduction), [xt, _classes(6, n=4)],
             lambda a, b: TF.cross_entropy(a, b, reduction=reduction))
    one = rand(1, 3, seed=4)  # batch of 1
    check_op(lambda a, b: F.cross_entropy(a, b, reduction=reduction), [one, np.array([2])],
             lambda a, b: TF.cross_entropy(a, b, reduction=reduction))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_weight_ignore_index_label_smoothing(reduction, smoothing, kernel_path):
    x, w = 2 * rand(8, 5, seed=5), _weight(5, seed=6)
    t = _classes(8, n=5, seed=7, ignore=-100)
    assert (t == -100).any()

    def ours(a, b, c):
        return F.cross_entropy(a, b, weight=c, reduction=reduction, label_smoothing=smoothing)

    def theirs(a, b, c):
        return TF.cross_entropy(a, b, weight=c, reduction=reduction, label_smoothing=smoothing)

    check_op(ours, [x, t, w], theirs, grad=[True, False, False])
    # an ignore_index that is a real class; no weight
    t2 = _classes(8, n=5, seed=8)
    check_op(lambda a, b: F.cross_entropy(a, b, ignore_index=3, reduction=reduction,
                                          label_smoothing=smoothing), [x, t2],
             lambda a, b: TF.cross_entropy(a, b, ignore_index=3, reduction=reduction,
                                           label_smoothing=smoothing))


def test_cross_entropy_weighted_mean_divides_by_target_weights():
    x = dw.tensor(rand(6, 3, seed=9), dtype=dw.float64)
    t = np.array([0, 1, 2, 2, -100, 1])
    w = np.array([0.5, 2.0, 3.0])
    per = F.cross_entropy(x, dw.tensor(t), weight=dw.tensor(w), reduction="none").data
    valid = t != -100
    assert per[~valid].item() == 0
    logp = x.data - np.log(np.exp(x.data).sum(1, keepdims=True))
    want = -w[t[valid]] * logp[valid.nonzero()[0], t[valid]]
    np.testing.assert_allclose(per[valid], want, rtol=1e-12)
    mean = F.cross_entropy(x, dw.tensor(t), weight=dw.tensor(w)).item()
    np.testing.assert_allclose(mean, want.sum() / w[t[valid]].sum(), rtol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets(reduction, smoothing):
    x, p, w = 2 * rand(4, 5, seed=10), _probs(4, 5, seed=11), _weight(5, seed=12)
    # gradients for both the logits and the soft target
    check_op(lambda a, b: F.cross_entropy(a, b, reduction=reduction, label_smoothing=smoothing),
             [x, p], lambda a, b: TF.cross_entropy(a, b, reduction=reduction,
                                                   label_smoothing=smoothing))
    check_op(lambda a, b, c: F.cross_entropy(a, b, weight=c, reduction=reduction,
                                             label_smoothing=smoothing), [x, p, w],
             lambda a, b, c: TF.cross_entropy(a, b, weight=c, reduction=reduction,
                                              label_smoothing=smoothing),
             grad=[True, False, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_k_dimensional(reduction, kernel_path):
    x = 2 * rand(2, 4, 3, 2, seed=13)  # (N, C, H, W)
    t = _classes(2, 3, 2, n=4, seed=14, ignore=-1)
    w = _weight(4, seed=15)

    def ours(a, b, c):
        return F.cross_entropy(a, b, weight=c, ignore_index=-1, reduction=reduction,
                               label_smoothing=0.1)

    def theirs(a, b, c):
        return TF.cross_entropy(a, b, weight=c, ignore_index=-1, reduction=reduction,
                                label_smoothing=0.1)

    check_op(ours, [x, t, w], theirs, grad=[True, False, False])
    # channels-last memory (a permuted view) and probability targets (N, C, L)
    xv = 2 * rand(2, 5, 3, seed=16).transpose(0, 2, 1)  # (2, 3, 5) non-contiguous
    pv = _probs(2, 3, 5, seed=17, axis=1)
    check_op(lambda a, b: F.cross_entropy(a, b, reduction=reduction), [xv, pv],
             lambda a, b: TF.cross_entropy(a, b, reduction=reduction))
    check_op(lambda a, b: F.cross_entropy(a, b, reduction=reduction),
             [xv, _classes(2, 5, n=3, seed=18)],
             lambda a, b: TF.cross_entropy(a, b, reduction=reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_unbatched(reduction, kernel_path):
    x = rand(6, seed=19)
    check_op(lambda a, b: F.cross_entropy(a, b, reduction=reduction), [x, np.array(4)],
             lambda a, b: TF.cross_entropy(a, b, reduction=reduction))
    check_op(lambda a, b: F.cross_entropy(a, b, reduction=reduction),
             [x, _probs(6, seed=20, axis=0)],
             lambda a, b: TF.cross_entropy(a, b, reduction=reduction))


def test_cross_entropy_huge_logits_and_all_ignored(kernel_path):
    x = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, 1e4], [3e4, 3e4, 3e4]])
    t = np.array([1, 2, 0])
    check_op(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1), [x, t],
             lambda a, b: TF.cross_entropy(a, b, label_smoothing=0.1), check_grad=False)
    check_op(lambda a, b: F.cross_entropy(a, b, reduction="none"), [x, _probs(3, 3)],
             lambda a, b: TF.cross_entropy(a, b, reduction="none"), check_grad=False)
    ign = dw.tensor([-100, -100, -100])
    assert np.isnan(F.cross_entropy(dw.tensor(x), ign).item())  # 0 / 0, as in PyTorch
    assert F.cross_entropy(dw.tensor(x), ign, reduction="sum").item() == 0


def test_cross_entropy_int32_target_and_tensor_weight(kernel_path):
    x = dw.tensor(rand(4, 3, seed=21), requires_grad=True)
    t32 = dw.tensor(np.array([0, 2, 1, 1], dtype=np.int32))
    a = F.cross_entropy(x, t32, weight=dw.tensor([1.0, 2.0, 0.5]))
    b = F.cross_entropy(x, dw.tensor([0, 2, 1, 1]), weight=[1.0, 2.0, 0.5])
    assert a.item() == pytest.approx(b.item(), rel=1e-6)
    a.backward()
    assert x.grad.shape == (4, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_fast_path_matches_the_numpy_path(dtype):
    """deepwise.kernels.loss (one pass per row) against the NumPy lines, forward and backward:
    a batch of 512 x 10 classes, class weights and ignored entries, a transposed input, NaN and
    -inf logits."""
    from deepwise import kernels
    if not kernels.available():
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((512, 10))).astype(dtype)
    x[3, 4] = np.nan
    x[5, :] = -np.inf
    x[6, 2] = -np.inf
    xt = (3 * rng.standard_normal((7, 64))).astype(dtype).T  # (64, 7), not C-contiguous
    t = rng.integers(0, 10, 512)
    t[::7] = -100
    w = rng.uniform(0.2, 2.0, 10).astype(dtype)
    cases = [(x, t, dict()), (x, t, dict(weight=w, reduction="sum")),
             (x, t, dict(reduction="none")), (xt, rng.integers(0, 7, 64), dict()),
             (x[:, ::2], t % 5, dict(ignore_index=0)),
             # more classes than kernels.loss.MAX_CLASSES: the NumPy forward, the kernel gradient
             (rng.standard_normal((32, 300)).astype(dtype), rng.integers(0, 300, 32), dict())]
    for xs, ts, kw in cases:
        out = []
        for numba in (False, True):
            a = dw.tensor(xs.copy(), requires_grad=True)
            with kernels.use_numba(numba), np.errstate(invalid="ignore"):
                loss = F.cross_entropy(a, dw.tensor(ts), **kw)
                loss.backward(np.ones(loss.shape, dtype))
            assert loss.dtype == dtype and a.grad.dtype == dtype
            out.append((loss.data, a.grad.data))
        tol = 1e-6 if dtype == np.float32 else 1e-13
        for ref, got in zip(*out):
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, err_msg=str(kw))


def test_cross_entropy_float16_takes_the_numpy_lines(kernel_path):
    """numba has no float16: half-precision logits give the same loss and gradient on both
    paths (the NumPy lines), in float16."""
    x = dw.tensor(rand(6, 4, seed=11).astype(np.float16), requires_grad=True)
    loss = F.cross_entropy(x, dw.tensor(np.array([0, 1, 2, 3, 0, 1])))
    loss.backward()
    assert loss.dtype == np.float16 and x.grad.dtype == np.float16
    ref = F.cross_entropy(dw.tensor(x.data.astype(np.float32)),
                          dw.tensor(np.array([0, 1, 2, 3, 0, 1])))
    assert abs(float(loss.item()) - float(ref.item())) < 1e-2


def test_cross_entropy_errors(kernel_path):
    x = dw.randn(4, 10)
    with pytest.raises(IndexError, match=r"^cross_entropy: target contains class 12 but input "
                                         r"has 10 classes \(C\)"):
        F.cross_entropy(x, dw.tensor([1, 12, 3, 0]))
    with pytest.raises(IndexError, match="target contains class -3"):
        F.cross_entropy(x, dw.tensor([1, -3, 3, 0]))
    with pytest.raises(ShapeError, match=r"cross_entropy: .*input of shape \(4, 10\).* target "
                                         r"of class indices must have shape \(4,\).*got \(4, 1\)"):
        F.cross_entropy(x, dw.tensor([[1], [2], [3], [0]]))
    with pytest.raises(ShapeError, match=r"shape \(2, 5, 3\) .* shape \(2, 3\).*got \(2, 5\)"):
        F.cross_entropy(dw.randn(2, 5, 3), dw.tensor(np.zeros((2, 5), np.int64)))
    with pytest.raises(ShapeError, match=r"probability target .* input's shape \(4, 10\), got "
                                         r"\(4, 9\)"):
        F.cross_entropy(x, dw.rand(4, 9))
    with pytest.raises(ShapeError, match=r"weight must have one entry per class, shape \(C,\) = "
                                         r"\(10,\), got \(3,\)"):
        F.cross_entropy(x, dw.tensor([1, 2, 3, 0]), weight=dw.ones(3))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(x, dw.tensor([1, 2, 3, 0]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, dw.tensor([1, 2, 3, 0]), label_smoothing=1.5)
    with pytest.raises(TypeError, match="target must hold class indices"):
        F.cross_entropy(x, dw.tensor([True, False, True, True]))
    with pytest.raises(TypeError, match="input must be a floating-point tensor"):
        F.cross_entropy(dw.tensor([[1, 2]]), dw.tensor([0]))
    with pytest.raises(ShapeError, match="0-d"):
        F.cross_entropy(dw.tensor(1.0), dw.tensor(0))


# ---- nll_loss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    x = rand(6, 4, seed=22)
    t = _classes(6, n=4, seed=23, ignore=-100)
    w = _weight(4, seed=24)
    check_op(lambda a, b: F.nll_loss(a, b, reduction=reduction), [x, t],
             lambda a, b: TF.nll_loss(a, b, reduction=reduction))
    check_op(lambda a, b, c: F.nll_loss(a, b, weight=c, reduction=reduction), [x, t, w],
             lambda a, b, c: TF.nll_loss(a, b, weight=c, reduction=reduction),
             grad=[True, False, False])
    xk = rand(2, 3, 4, seed=25)  # (N, C, L)
    tk = _classes(2, 4, n=3, seed=26, ignore=1)
    check_op(lambda a, b: F.nll_loss(a, b, ignore_index=1, reduction=reduction), [xk, tk],
             lambda a, b: TF.nll_loss(a, b, ignore_index=1, reduction=reduction))
    check_op(lambda a, b: F.nll_loss(a, b, reduction=reduction), [rand(5, seed=27), np.array(3)],
             lambda a, b: TF.nll_loss(a, b, reduction=reduction))


def test_nll_after_log_softmax_is_cross_entropy():
    x = dw.tensor(rand(5, 7, seed=28), requires_grad=True)
    t = dw.tensor(_classes(5, n=7, seed=29))
    a = F.nll_loss(F.log_softmax(x, 1), t)
    a.backward()
    g = x.grad.data.copy()
    x.grad = None
    b = F.cross_entropy(x, t)
    b.backward()
    assert a.item() == pytest.approx(b.item(), rel=1e-6)
    np.testing.assert_allclose(g, x.grad.data, rtol=1e-5, atol=1e-7)


def test_nll_loss_ignored_entries_add_nothing_even_at_minus_inf():
    x = dw.tensor([[-np.inf, -1.0], [-2.0, -0.5]])
    out = F.nll_loss(x, dw.tensor([-100, 1]), reduction="none")
    np.testing.assert_array_equal(out.data, [0.0, 0.5])
    with pytest.raises(TypeError, match=r"nll_loss: target must hold class indices \(an integer"):
        F.nll_loss(x, dw.rand(2, 2))
    with pytest.raises(IndexError, match="nll_loss: target contains class 2 but input has 2"):
        F.nll_loss(x, dw.tensor([0, 2]))


# ---- regression ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_l1(reduction):
    for x, t in [(rand(3, 4, seed=30), rand(3, 4, seed=31)),
                 (rand(4, 1, 2, seed=32).transpose(2, 1, 0), rand(2, 1, 4, seed=33))]:
        check_op(lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, t],
                 lambda a, b: TF.mse_loss(a, b, reduction=reduction))
        check_op(lambda a, b: F.l1_loss(a, b, reduction=reduction), [x, t],
                 lambda a, b: TF.l1_loss(a, b, reduction=reduction))
    w = rand(3, 4, seed=34, low=0.1, high=2.0)
    check_op(lambda a, b, c: F.mse_loss(a, b, reduction=reduction, weight=c),
             [rand(3, 4, seed=35), rand(3, 4, seed=36), w],
             lambda a, b, c: TF.mse_loss(a, b, reduction=reduction, weight=c),
             grad=[True, True, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.4, 0.0])
def test_smooth_l1(reduction, beta):
    x, t = 2 * rand(4, 5, seed=37), rand(4, 5, seed=38)
    check_op(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta), [x, t],
             lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_huber(reduction, delta):
    x, t = 2 * rand(4, 5, seed=39), rand(4, 5, seed=40)
    check_op(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta), [x, t],
             lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=delta))
    w = rand(4, 5, seed=41, low=0.1, high=2.0)
    check_op(lambda a, b, c: F.huber_loss(a, b, reduction=reduction, delta=delta, weight=c),
             [x, t, w], lambda a, b, c: TF.huber_loss(a, b, reduction=reduction, delta=delta,
                                                      weight=c), grad=[True, True, False])


def test_regression_errors():
    x = dw.randn(3, 1)
    with pytest.raises(ShapeError, match=r"mse_loss: input has shape \(3, 1\) but target has "
                                         r"shape \(3,\)"):
        F.mse_loss(x, dw.randn(3))
    with pytest.raises(ShapeError, match=r"l1_loss: input has shape \(3, 1\) but target"):
        F.l1_loss(x, dw.randn(1, 3))
    with pytest.raises(ShapeError, match=r"huber_loss: input has shape \(3, 1\) but weight has "
                                         r"shape \(3,\)"):
        F.huber_loss(x, dw.randn(3, 1), weight=dw.ones(3))
    with pytest.raises(ValueError, match="beta must be >= 0"):
        F.smooth_l1_loss(x, x, beta=-1)
    with pytest.raises(ValueError, match="delta must be > 0"):
        F.huber_loss(x, x, delta=0)
    with pytest.raises(ValueError, match="mse_loss: reduction must be"):
        F.mse_loss(x, x, reduction="max")
    # a target of another dtype is taken in the input's dtype
    assert F.mse_loss(x, dw.zeros(3, 1, dtype=dw.float64)).dtype == np.float32
    assert F.l1_loss(x, np.zeros((3, 1), np.int64)).dtype == np.float32


# ---- binary classification ----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    x = rand(4, 3, seed=42, low=0.05, high=0.95)
    t = rand(4, 3, seed=43, low=0.0, high=1.0)
    check_op(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [x, t],
             lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction))
    w = rand(3, seed=44, low=0.2, high=2.0)  # broadcast over rows
    check_op(lambda a, b, c: F.binary_cross_entropy(a, b, weight=c, reduction=reduction),
             [x, t, w], lambda a, b, c: TF.binary_cross_entropy(a, b, weight=c,
                                                                reduction=reduction),
             grad=[True, True, False])
    xt = rand(3, 4, seed=45, low=0.05, high=0.95).T
    check_op(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [xt, t],
             lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction))


def test_binary_cross_entropy_clamps_the_log():
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    check_op(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"), [x, t],
             lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"), check_grad=False,
             grad=[True, False])
    out = F.binary_cross_entropy(dw.tensor(x), dw.tensor(t), reduction="none").data
    np.testing.assert_allclose(out, [100, 100, 0, 0, 69.07755], rtol=1e-5)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input should "
                                         r"be between 0 and 1 \(got values in \[-0.5, 2\]\)"):
        F.binary_cross_entropy(dw.tensor([-0.5, 2.0]), dw.tensor([0.0, 1.0]))
    with pytest.raises(ShapeError, match=r"input has shape \(2,\) but target has shape \(2, 1\)"):
        F.binary_cross_entropy(dw.tensor([0.5, 0.5]), dw.tensor([[0.0], [1.0]]))
    with pytest.raises(ShapeError, match=r"weight of shape \(3,\) does not broadcast to the "
                                         r"input's shape \(2,\)"):
        F.binary_cross_entropy(dw.tensor([0.5, 0.5]), dw.tensor([0.0, 1.0]), weight=dw.ones(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction):
    x = 3 * rand(5, 3, seed=46)
    t = rand(5, 3, seed=47, low=0.0, high=1.0)
    w = rand(5, 1, seed=48, low=0.2, high=2.0)
    pw = rand(3, seed=49, low=0.3, high=3.0)
    check_op(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
             [x, t], lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction))
    check_op(lambda a, b, c, d: F.binary_cross_entropy_with_logits(
                 a, b, weight=c, pos_weight=d, reduction=reduction), [x, t, w, pw],
             lambda a, b, c, d: TF.binary_cross_entropy_with_logits(
                 a, b, weight=c, pos_weight=d, reduction=reduction),
             grad=[True, True, False, False])
    check_op(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
             [rand(3, 5, seed=50).T, t],
             lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction))


def test_binary_cross_entropy_with_logits_is_stable():
    x = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4])
    t = np.array([1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0])
    pw = np.array([2.5])
    check_op(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c,
                                                                reduction="none"),
             [x, t, pw], lambda a, b, c: TF.binary_cross_entropy_with_logits(
                 a, b, pos_weight=c, reduction="none"), check_grad=False,
             grad=[True, True, False])
    with pytest.raises(ShapeError, match=r"pos_weight of shape \(4,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(dw.randn(2, 3), dw.rand(2, 3), pos_weight=dw.ones(4))


# ---- one_hot ------------------------------------------------------------------------------------


def test_one_hot():
    idx = _classes(3, 4, n=5, seed=51)
    out = F.one_hot(dw.tensor(idx), 6)
    assert out.dtype == np.int64 and out.shape == (3, 4, 6) and not out.requires_grad
    if torch is not None:
        np.testing.assert_array_equal(out.data, TF.one_hot(torch.from_numpy(idx), 6).numpy())
        np.testing.assert_array_equal(F.one_hot(dw.tensor(idx)).data,
                                      TF.one_hot(torch.from_numpy(idx)).numpy())
    assert F.one_hot(dw.tensor([2, 0])).data.tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="class values must be smaller than num_classes=3, got 3"):
        F.one_hot(dw.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="class values must be non-negative, got -1"):
        F.one_hot(dw.tensor([-1]), 3)
    with pytest.raises(ValueError, match="cannot infer num_classes from an empty tensor"):
        F.one_hot(dw.tensor(np.zeros(0, np.int64)))
    with pytest.raises(TypeError, match="expected an integer tensor of class indices, got float32"):
        F.one_hot(dw.tensor([0.5]), 3)
    assert F.one_hot(dw.tensor(np.zeros(0, np.int64)), 4).shape == (0, 4)


def test_losses_learn_a_linear_classifier():
    """A few steps of gradient descent on cross_entropy separate two Gaussian blobs."""
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.normal(-1, 0.5, (50, 2)), rng.normal(1, 0.5, (50, 2))]).astype(
        np.float32)
    y = np.repeat([0, 1], 50)
    w = dw.zeros(2, 2, requires_grad=True)
    first = None
    for _ in range(50):
        loss = F.cross_entropy(dw.tensor(xs) @ w, dw.tensor(y), label_smoothing=0.05)
        first = loss.item() if first is None else first
        w.grad = None
        loss.backward()
        with dw.no_grad():
            w -= 0.5 * w.grad
    assert first == pytest.approx(np.log(2), rel=1e-5)
    assert loss.item() < 0.25
