"""nn.init: gains, fans, and the distributions each initialiser draws from (vs PyTorch's)."""

import math

import numpy as np
import pytest
from helpers import needs_torch, torch

import deepwise as dw
from deepwise import nn
from deepwise.nn import init

tinit = torch.nn.init if torch is not None else None  # comparisons with PyTorch skip without it


@pytest.mark.parametrize("nl,param,gain", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)),
    ("selu", None, 3 / 4)])
def test_calculate_gain_matches_pytorch(nl, param, gain):
    """The gains of PyTorch's table (its documentation's formulas)."""
    assert init.calculate_gain(nl, param) == pytest.approx(gain)
    needs_torch()
    assert init.calculate_gain(nl, param) == pytest.approx(tinit.calculate_gain(nl, param))


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("shape", [(3, 4), (16, 3, 5, 5), (8, 4, 3), (2, 6, 1, 2, 3)])
def test_fans_match_pytorch(shape):
    ours = init._calculate_fan_in_and_fan_out(dw.zeros(*shape))
    receptive = math.prod(shape[2:])  # (out, in, *kernel): fan_in = in * kernel
    assert ours == (shape[1] * receptive, shape[0] * receptive)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(dw.zeros(5))
    needs_torch()
    assert ours == tinit._calculate_fan_in_and_fan_out(torch.zeros(*shape))


def _torch_draw(fn, shape, **kw):
    t = torch.empty(*shape)
    fn(t, **kw)
    return t.numpy()


# (the initialiser's name in both libraries, kwargs, the formula's bound (uniform) or std (normal))
SHAPE = (256, 64, 3, 3)
FAN_IN, FAN_OUT = 64 * 9, 256 * 9
CASES = [
    ("xavier_uniform_", {"gain": 2.0}, ("bound", 2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    ("xavier_normal_", {"gain": 0.5}, ("std", 0.5 * math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, ("bound", math.sqrt(6 / ((1 + 5) * FAN_IN)))),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"},
     ("bound", math.sqrt(6 / FAN_OUT))),
    ("kaiming_normal_", {"nonlinearity": "relu"}, ("std", math.sqrt(2 / FAN_IN))),
    ("kaiming_normal_", {"mode": "fan_out", "a": 0.1}, ("std", math.sqrt(2 / (1.01 * FAN_OUT)))),
    ("uniform_", {"a": -0.3, "b": 0.7}, ("range", (-0.3, 0.7))),
    ("normal_", {"mean": 1.5, "std": 0.2}, ("std", 0.2)),
]


@pytest.mark.parametrize("name,kw,expect", CASES,
                         ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_distributions_match_formula_and_pytorch(name, kw, expect):
    w = dw.empty(*SHAPE)
    assert getattr(init, name)(w, **kw) is w
    a = w.data
    assert a.dtype == np.float32
    kind, val = expect
    n = a.size
    if kind == "bound":
        assert np.all(np.abs(a) <= val) and np.abs(a).max() > 0.999 * val
        np.testing.assert_allclose(a.std(), val / math.sqrt(3), rtol=0.01)
    elif kind == "range":
        lo, hi = val
        assert a.min() >= lo and a.max() < hi and a.min() < lo + 1e-3 and a.max() > hi - 1e-3
        np.testing.assert_allclose(a.mean(), (lo + hi) / 2, atol=4 * (hi - lo) / math.sqrt(12 * n))
    else:
        np.testing.assert_allclose(a.std(), val, rtol=0.01)
        np.testing.assert_allclose(a.mean(), kw.get("mean", 0.0), atol=5 * val / math.sqrt(n))
    needs_torch()
    t = _torch_draw(getattr(tinit, name), SHAPE, **kw)
    if kind == "bound":
        assert np.all(np.abs(t) <= val)  # the formula is PyTorch's
    elif kind == "std":
        np.testing.assert_allclose(t.std(), val, rtol=0.01)
    # the same distribution as PyTorch's draw: moments agree within sampling error
    np.testing.assert_allclose(a.std(), t.std(), rtol=0.02)
    np.testing.assert_allclose(a.mean(), t.mean(), atol=5 * t.std() / math.sqrt(n))


def _trunc_normal_moments(mean, std, a, b):
    """Mean and standard deviation of N(mean, std^2) truncated to [a, b] (closed form)."""
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    al, be = (a - mean) / std, (b - mean) / std
    z = cdf(be) - cdf(al)
    m = (pdf(al) - pdf(be)) / z
    var = 1 + (al * pdf(al) - be * pdf(be)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


def test_trunc_normal_bounds_and_moments():
    w = init.trunc_normal_(dw.empty(200, 300), mean=0.5, std=1.0, a=-0.5, b=2.0)
    assert w.data.min() >= -0.5 and w.data.max() <= 2.0
    mu, sd = _trunc_normal_moments(0.5, 1.0, -0.5, 2.0)
    np.testing.assert_allclose(w.data.mean(), mu, atol=0.01)  # 60,000 draws: sd/245 = 0.003
    np.testing.assert_allclose(w.data.std(), sd, rtol=0.02)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(dw.empty(3), a=1.0, b=0.0)
    needs_torch()
    t = _torch_draw(tinit.trunc_normal_, (200, 300), mean=0.5, std=1.0, a=-0.5, b=2.0)
    np.testing.assert_allclose(w.data.mean(), t.mean(), atol=0.01)
    np.testing.assert_allclose(w.data.std(), t.std(), rtol=0.02)


def test_constant_ones_zeros_eye():
    w = dw.empty(3, 4)
    np.testing.assert_array_equal(init.constant_(w, 0.25).data, 0.25)
    np.testing.assert_array_equal(init.ones_(w).data, 1.0)
    np.testing.assert_array_equal(init.zeros_(w).data, 0.0)
    np.testing.assert_array_equal(init.eye_(w).data, np.eye(3, 4))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(dw.empty(2, 2, 2))


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 2, 3, 3)])
def test_orthogonal(shape):
    w = init.orthogonal_(dw.empty(*shape), gain=2.0)
    m = w.data.reshape(shape[0], -1).astype(np.float64)
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(dw.empty(4))


def test_init_is_in_place_on_parameters_and_repeatable():
    p = nn.Parameter(dw.zeros(5, 4))
    data, version = p.data, p._version
    init.kaiming_uniform_(p)  # grad mode on: allowed, nothing recorded
    assert p.data is data and p._version > version and p.grad_fn is None and p.requires_grad
    dw.manual_seed(7)
    a = init.normal_(dw.empty(5, 4)).data.copy()
    dw.manual_seed(7)
    b = init.normal_(dw.empty(5, 4)).data.copy()
    np.testing.assert_array_equal(a, b)
    g1 = init.uniform_(dw.empty(3), generator=np.random.default_rng(3)).data
    g2 = init.uniform_(dw.empty(3), generator=np.random.default_rng(3)).data
    np.testing.assert_array_equal(g1, g2)
    w64 = init.xavier_normal_(dw.empty(4, 4, dtype=dw.float64))
    assert w64.dtype == np.float64


def test_layers_draw_from_the_seeded_generator():
    dw.manual_seed(3)
    a = nn.Linear(6, 5)
    dw.manual_seed(3)
    b = nn.Linear(6, 5)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, nn.Linear(6, 5).weight.data)
