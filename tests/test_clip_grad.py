"""Gradient clipping (parity with torch.nn.utils) and the L1 penalty."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import SKIP_TORCH, torch

import deepwise as dw
from deepwise.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_, l1_penalty

SHAPES = [(4, 3), (5,), (2, 3, 2)]


def _pair(seed: int = 0, scale: float = 1.0, none_at: int | None = None):
    """The same parameters and gradients in deepwise and in PyTorch."""
    rng = np.random.default_rng(seed)
    dps, tps = [], []
    for i, s in enumerate(SHAPES):
        w = rng.standard_normal(s).astype(np.float32)
        g = (scale * rng.standard_normal(s)).astype(np.float32)
        d = dw.tensor(w, requires_grad=True)
        t = torch.tensor(w, requires_grad=True) if torch is not None else None
        if i != none_at:
            d.grad = dw.tensor(g)
            if t is not None:
                t.grad = torch.tensor(g)
        dps.append(d)
        tps.append(t)
    return dps, tps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])  # clipping, and a max too large to clip
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    dps, tps = _pair(none_at=1)
    dn = clip_grad_norm_(dps, max_norm, norm_type=norm_type)
    tn = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert isinstance(dn, dw.Tensor) and dn.shape == () and dn.dtype == np.float32
    np.testing.assert_allclose(dn.item(), tn.item(), rtol=1e-6)
    assert dps[1].grad is None
    for i, (a, b) in enumerate(zip(dps, tps)):
        if a.grad is not None:
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=1e-6, atol=1e-7,
                                       err_msg=f"grad #{i}")


def test_clip_grad_norm_result_has_max_norm_and_keeps_direction():
    dps, _ = _pair(scale=10.0)
    before = np.concatenate([p.grad.data.ravel() for p in dps])
    total = clip_grad_norm_(iter(dps), max_norm=2.0)  # any iterable (a generator) is accepted
    after = np.concatenate([p.grad.data.ravel() for p in dps])
    np.testing.assert_allclose(total.item(), np.linalg.norm(before), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(after), 2.0, rtol=1e-5)
    np.testing.assert_allclose(after / np.linalg.norm(after), before / np.linalg.norm(before),
                               rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_single_tensor_empty_and_nonfinite():
    w = dw.tensor([3.0, 4.0], requires_grad=True)
    w.grad = dw.tensor([3.0, 4.0])
    n = clip_grad_norm_(w, 1.0)
    assert n.item() == pytest.approx(5.0)
    np.testing.assert_allclose(w.grad.data, [0.6, 0.8], rtol=1e-5)
    assert clip_grad_norm_([dw.zeros(2, requires_grad=True)], 1.0).item() == 0.0
    w.grad = dw.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite|inf"):
        clip_grad_norm_([w], 1.0, error_if_nonfinite=True)


def test_clip_grad_value_matches_torch():
    if torch is None:
        pytest.skip(SKIP_TORCH)
    dps, tps = _pair(seed=3, none_at=0)
    clip_grad_value_(dps, 0.7)
    torch.nn.utils.clip_grad_value_(tps, 0.7)
    assert dps[0].grad is None
    for a, b in zip(dps[1:], tps[1:]):
        np.testing.assert_array_equal(a.grad.data, b.grad.numpy())
        assert np.abs(a.grad.data).max() <= 0.7
    w = dw.tensor([1.0, -3.0], requires_grad=True)
    w.grad = dw.tensor([5.0, -0.5])
    clip_grad_value_(w, 1)
    np.testing.assert_array_equal(w.grad.data, [1.0, -0.5])


class _TinyModel:
    """Stands in for an nn.Module: only ``parameters()`` is used."""

    def __init__(self):
        rng = np.random.default_rng(7)
        w = rng.standard_normal((3, 4)).astype(np.float32)
        w[0, 0] = 0.0  # |w| has gradient 0 at 0
        self.weight = dw.tensor(w, requires_grad=True)
        self.bias = dw.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
        self.kernel = dw.tensor(rng.standard_normal((2, 1, 3)).astype(np.float32),
                                requires_grad=True)

    def parameters(self):
        return iter([self.weight, self.bias, self.kernel])


def test_l1_penalty_value_and_gradient():
    m = _TinyModel()
    pen = l1_penalty(m, weight=0.01)
    assert isinstance(pen, dw.Tensor) and pen.shape == ()
    expect = 0.01 * (np.abs(m.weight.data).sum() + np.abs(m.kernel.data).sum())  # no bias
    np.testing.assert_allclose(pen.item(), expect, rtol=1e-6)
    pen.backward()
    np.testing.assert_array_equal(m.weight.grad.data, 0.01 * np.sign(m.weight.data).astype(
        np.float32))
    assert m.weight.grad.data[0, 0] == 0.0
    np.testing.assert_array_equal(m.kernel.grad.data, np.float32(0.01) * np.sign(m.kernel.data))
    assert m.bias.grad is None


def test_l1_penalty_all_tensors_and_single_tensor():
    m = _TinyModel()
    pen = l1_penalty(m.parameters(), only_weights=False)
    expect = sum(np.abs(p.data).sum() for p in m.parameters())
    np.testing.assert_allclose(pen.item(), expect, rtol=1e-6)
    pen.backward()
    np.testing.assert_array_equal(m.bias.grad.data, np.sign(m.bias.data))
    single = l1_penalty(m.weight, weight=2.0)
    np.testing.assert_allclose(single.item(), 2.0 * np.abs(m.weight.data).sum(), rtol=1e-6)
    assert l1_penalty([m.bias]).item() == 0.0  # only a bias: nothing to penalise


def test_l1_penalty_matches_torch_and_drives_weights_to_zero():
    if torch is None:
        pytest.skip(SKIP_TORCH)
    m = _TinyModel()
    tw = torch.tensor(m.weight.data, requires_grad=True)
    l1_penalty([m.weight], weight=0.3).backward()
    (0.3 * tw.abs().sum()).backward()
    np.testing.assert_allclose(m.weight.grad.data, tw.grad.numpy(), rtol=1e-6)
    # minimising only the penalty with small steps shrinks every weight toward 0
    w = dw.tensor(m.weight.data.copy(), requires_grad=True)
    start = np.abs(w.data).sum()
    for _ in range(50):
        w.grad = None
        l1_penalty(w, weight=1.0).backward()
        w.data -= 0.05 * w.grad.data
    assert np.abs(w.data).sum() < 0.1 * start
