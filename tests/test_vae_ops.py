"""The divergences of deepwise.ops.vae: kl_div (PyTorch's F.kl_div, every reduction, log_target)
and gaussian_kl (the VAE's closed-form KL): float64 gradient checks, PyTorch parity, the closed
form against a Monte-Carlo estimate, and the errors."""

import numpy as np
import pytest
from helpers import check_op, needs_torch, rand, torch

import deepwise as dw
import deepwise.nn.functional as F
from deepwise import nn
from deepwise.autograd import ShapeError

TF = torch.nn.functional if torch is not None else None
REDUCTIONS = ["mean", "batchmean", "sum", "none"]


def _log_probs(*shape, seed=0):
    p = rand(*shape, seed=seed, low=0.05, high=1.0)
    return np.log(p / p.sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kl_div(reduction):
    x = _log_probs(4, 5, seed=1)
    t = np.exp(_log_probs(4, 5, seed=2))
    t[0, 1] = 0.0  # 0 log 0 = 0, as PyTorch (xlogy); the gradient there is finite
    check_op(lambda a, b: F.kl_div(a, b, reduction=reduction), [x, t],
             None if TF is None else (lambda a, b: TF.kl_div(a, b, reduction=reduction)),
             grad=[True, False])


@pytest.mark.parametrize("reduction", ["batchmean", "none"])
def test_kl_div_log_target(reduction):
    x, t = _log_probs(3, 1, 4, seed=3), _log_probs(3, 1, 4, seed=4)
    check_op(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=True), [x, t],
             None if TF is None else
             (lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=True)))


def test_kl_div_target_gradient():
    """The target's gradient log t + 1 - x (t > 0), float64 finite differences and PyTorch."""
    x = _log_probs(2, 3, seed=5)
    t = np.exp(_log_probs(2, 3, seed=6))
    check_op(lambda a, b: F.kl_div(a, b, reduction="sum"), [x, t],
             None if TF is None else (lambda a, b: TF.kl_div(a, b, reduction="sum")))


def test_kl_div_value_and_layer():
    """KL(t || q) of two known distributions, and nn.KLDivLoss calls the same op."""
    q = dw.tensor([[0.25, 0.75]], dtype=dw.float64)
    t = dw.tensor([[0.5, 0.5]], dtype=dw.float64)
    want = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)
    assert F.kl_div(q.log(), t, reduction="sum").item() == pytest.approx(want, rel=1e-12)
    layer = nn.KLDivLoss(reduction="batchmean")
    assert layer(q.log(), t).item() == pytest.approx(want, rel=1e-12)
    assert "batchmean" in repr(layer)


def test_kl_div_errors():
    x = dw.zeros(2, 3)
    with pytest.raises(ShapeError, match=r"kl_div: input has shape \(2, 3\) but target"):
        F.kl_div(x, dw.zeros(3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.kl_div(x, dw.zeros(2, 3), reduction="avg")
    with pytest.raises(ValueError, match="deprecated"):
        F.kl_div(x, dw.zeros(2, 3), size_average=True)
    with pytest.raises(ValueError, match="KLDivLoss: reduction"):
        nn.KLDivLoss(reduction="max")


def _torch_gaussian_kl(reduction):
    def fn(mu, logvar):
        d = torch.distributions
        kl = d.kl_divergence(d.Normal(mu, (0.5 * logvar).exp()), d.Normal(0.0, 1.0))
        if reduction == "none":
            return kl
        if reduction == "batchmean":
            return kl.sum() / mu.shape[0]
        return kl.sum() if reduction == "sum" else kl.mean()
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 3), (1, 1), (2, 4, 1)])
def test_gaussian_kl(reduction, shape):
    mu, logvar = rand(*shape, seed=7), rand(*shape, seed=8, low=-2.0, high=1.5)
    check_op(lambda m, v: F.gaussian_kl(m, v, reduction=reduction), [mu, logvar],
             None if torch is None else _torch_gaussian_kl(reduction))


def test_gaussian_kl_closed_form_against_monte_carlo():
    """E_q[log q(z) - log p(z)], estimated from 400,000 draws z ~ q, matches the closed form."""
    mu, logvar = np.array([0.7, -1.2, 0.0]), np.array([-0.5, 0.8, 0.0])
    rng = np.random.default_rng(0)
    s = np.exp(0.5 * logvar)
    z = mu + s * rng.standard_normal((400_000, 3))
    log_q = -0.5 * (np.log(2 * np.pi) + logvar + ((z - mu) / s) ** 2)
    log_p = -0.5 * (np.log(2 * np.pi) + z ** 2)
    mc = (log_q - log_p).mean(axis=0)
    kl = F.gaussian_kl(dw.tensor(mu), dw.tensor(logvar), reduction="none").numpy()
    np.testing.assert_allclose(kl, mc, atol=0.01)
    assert kl[2] == 0.0  # q is the prior: no divergence


def test_gaussian_kl_errors():
    with pytest.raises(ShapeError, match=r"gaussian_kl: mu has shape \(2, 3\) but logvar"):
        F.gaussian_kl(dw.zeros(2, 3), dw.zeros(2, 2))
    with pytest.raises(TypeError, match="gaussian_kl: mu is float32 but logvar is float64"):
        F.gaussian_kl(dw.zeros(2), dw.zeros(2, dtype=dw.float64))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.gaussian_kl(dw.zeros(2), dw.zeros(2), reduction="avg")


@pytest.mark.parametrize("reduction,log_target", [("batchmean", False), ("sum", True)])
def test_kl_div_loss_layer_matches_pytorch(reduction, log_target):
    x = _log_probs(3, 4, seed=9)
    t = _log_probs(3, 4, seed=10)
    t = t if log_target else np.exp(t)
    layer = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    xd = dw.tensor(x.astype(np.float32), requires_grad=True)
    out = layer(xd, dw.tensor(t.astype(np.float32)))
    out.backward()
    assert out.shape == () and xd.grad is not None
    needs_torch()
    xt = torch.tensor(x.astype(np.float32), requires_grad=True)
    ref = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(
        xt, torch.tensor(t.astype(np.float32)))
    ref.backward()
    assert out.item() == pytest.approx(ref.item(), rel=1e-5)
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)
