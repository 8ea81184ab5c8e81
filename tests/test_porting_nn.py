"""The nn pieces added so PyTorch scripts port (issue 18): PReLU, ReLU6, Hardtanh, LogSigmoid,
InstanceNorm1d/2d, ParameterList/ParameterDict, parameters_to_vector/vector_to_parameters.
Ops: float64 gradcheck + PyTorch parity (check_op); layers: PyTorch parity with the same
weights (outputs, input and parameter gradients)."""

import numpy as np
import pytest
from helpers import check_op, needs_torch, rand, torch

import deepwise as dw
import deepwise.nn.functional as F
from deepwise import nn
from deepwise.autograd import ShapeError


def _away_from(x: np.ndarray, *kinks: float, gap: float = 0.05) -> np.ndarray:
    """``x`` with values within ``gap`` of a kink moved off it (finite differences straddling a
    kink are wrong by design)."""
    x = x.copy()
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap)
    return x


def test_logsigmoid_op():
    x = rand(3, 5) * 30  # large |x| too: stable both ways
    check_op(F.logsigmoid, [x], torch and torch.nn.functional.logsigmoid)
    y = F.logsigmoid(dw.tensor([-200.0, 0.0, 200.0], dtype=dw.float64))
    np.testing.assert_allclose(y.data, [-200.0, -np.log(2), -np.exp(-200.0)], rtol=1e-12)


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (-0.3, 0.6)])
def test_hardtanh_op(lo, hi):
    x = _away_from(rand(4, 3, 2) * 2, lo, hi)
    check_op(lambda t: F.hardtanh(t, lo, hi), [x],
             torch and (lambda t: torch.nn.functional.hardtanh(t, lo, hi)))


def test_relu6_op():
    x = _away_from(rand(5, 4, seed=2) * 8, 0.0, 6.0)
    check_op(F.relu6, [x], torch and torch.nn.functional.relu6)


@pytest.mark.parametrize("xshape,wshape", [((2, 3, 4, 1), (3,)), ((5, 3), (1,)), ((4,), (1,)),
                                           ((1, 2, 3), (2,))])
def test_prelu_op(xshape, wshape):
    x = _away_from(rand(*xshape), 0.0)
    w = rand(*wshape, seed=3)
    check_op(F.prelu, [x, w], torch and torch.nn.functional.prelu)


def test_prelu_and_hardtanh_errors():
    with pytest.raises(ShapeError, match=r"prelu: weight has 2 elements, expected 1 or .* 3"):
        F.prelu(dw.randn(2, 3), dw.randn(2))
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(1.0, -1.0)
    model = nn.Sequential(nn.Linear(4, 3), nn.PReLU(2))
    with pytest.raises(ShapeError, match=r"1 \(PReLU\).*prelu: weight has 2 elements"):
        model(dw.randn(5, 4))


def _check_layer(layer, tlayer, x, rtol=1e-5, atol=1e-6):
    """Same weights as PyTorch's layer: the same output, input gradient and parameter
    gradients for a random upstream gradient."""
    layer.load_state_dict({k: v.detach().numpy() for k, v in tlayer.state_dict().items()})
    xd = dw.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, tout = layer(xd), tlayer(xt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(7).standard_normal(tout.shape).astype(np.float32)
    (out * dw.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xd.grad.data, xt.grad.numpy(), rtol=rtol * 10, atol=atol * 10)
    tparams = dict(tlayer.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(tparams)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad.data, tparams[name].grad.numpy(), rtol=rtol * 10,
                                   atol=atol * 10, err_msg=name)
    return out


def test_activation_layers_parity():
    x = _away_from(rand(2, 3, 4, seed=4).astype(np.float32) * 7, -1, 0, 1, 6)
    prelu = nn.PReLU(3, init=0.1)
    assert prelu.weight.shape == (3,) and np.allclose(prelu.weight.data, 0.1)
    assert repr(prelu) == "PReLU(num_parameters=3)" and repr(nn.ReLU6()) == "ReLU6()"
    assert repr(nn.Hardtanh(-2, 2)) == "Hardtanh(min_val=-2, max_val=2)"
    needs_torch()
    tprelu = torch.nn.PReLU(3, init=0.1)
    with torch.no_grad():
        tprelu.weight.copy_(torch.tensor([0.1, -0.2, 0.5]))
    _check_layer(prelu, tprelu, x)
    _check_layer(nn.PReLU(), torch.nn.PReLU(), x)
    for layer, tlayer in ((nn.ReLU6(), torch.nn.ReLU6()),
                          (nn.Hardtanh(-2.0, 0.5), torch.nn.Hardtanh(-2.0, 0.5)),
                          (nn.LogSigmoid(), torch.nn.LogSigmoid())):
        _check_layer(layer, tlayer, x)


# ---- InstanceNorm ---------------------------------------------------------------------------

def test_instance_norm_op():
    x = rand(2, 3, 4, 5)
    check_op(F.instance_norm, [x], torch and torch.nn.functional.instance_norm, atol=1e-5)
    w, b = rand(3, seed=1), rand(3, seed=2)
    check_op(lambda t, w, b: F.instance_norm(t, weight=w, bias=b), [rand(1, 3, 6), w, b],
             torch and (lambda t, w, b: torch.nn.functional.instance_norm(t, weight=w, bias=b)),
             atol=1e-5)


@pytest.mark.parametrize("affine,track", [(False, False), (True, False), (True, True)])
def test_instance_norm2d_parity(affine, track):
    layer = nn.InstanceNorm2d(3, affine=affine, track_running_stats=track)
    assert (layer.weight is not None) == affine and (layer.running_mean is not None) == track
    x = rand(4, 3, 5, 6, seed=5).astype(np.float32) * 2 + 1
    needs_torch()
    tlayer = torch.nn.InstanceNorm2d(3, affine=affine, track_running_stats=track)
    if affine:
        with torch.no_grad():
            tlayer.weight.copy_(torch.tensor([1.5, -0.5, 2.0]))
            tlayer.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
    _check_layer(layer, tlayer, x, atol=1e-5)
    for k, v in tlayer.state_dict().items():  # running stats updated as PyTorch's
        np.testing.assert_allclose(layer.state_dict()[k], v.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=k)
    layer.eval()
    tlayer.eval()
    x2 = rand(2, 3, 5, 6, seed=6).astype(np.float32)
    with torch.no_grad():
        expect = tlayer(torch.tensor(x2)).numpy()
    np.testing.assert_allclose(layer(dw.tensor(x2)).data, expect, rtol=1e-5, atol=1e-5)


def test_instance_norm_unbatched_1d_and_errors():
    x = rand(3, 7, seed=8).astype(np.float32)
    y = nn.InstanceNorm1d(3)(dw.tensor(x))
    expect = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y.data, expect, rtol=1e-5, atol=1e-5)
    with pytest.raises(ShapeError, match=r"expected input with 4 channels, got \(2, 3, 5, 5\)"):
        nn.InstanceNorm2d(4)(dw.randn(2, 3, 5, 5))
    with pytest.raises(ShapeError, match=r"expected input \(N, C, H, W\) or \(C, H, W\)"):
        nn.InstanceNorm2d(4)(dw.randn(2, 4))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(dw.randn(2, 3, 1, 1))


# ---- parameter containers and flat vectors ----------------------------------------------------

class _Mixture(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.means = nn.ParameterList([nn.Parameter(dw.zeros(2)) for _ in range(3)])
        self.scales = nn.ParameterDict({"a": nn.Parameter(dw.ones(2)), "b": dw.ones(2) * 2})

    def forward(self, x):
        return sum(((x - m) * self.scales["a"]).pow(2).sum() for m in self.means)


def test_parameter_list_and_dict():
    m = _Mixture()
    assert [n for n, _ in m.named_parameters()] == ["means.0", "means.1", "means.2", "scales.a",
                                                    "scales.b"]
    assert isinstance(m.scales["b"], nn.Parameter) and len(m.means) == 3 and "a" in m.scales
    m.means.append(dw.ones(2))
    assert len(list(m.parameters())) == 6 and isinstance(m.means[-1], nn.Parameter)
    assert [p.shape for p in m.means[1:3]] == [(2,), (2,)]
    m(dw.ones(2)).backward()
    assert m.means[0].grad is not None and m.scales["b"].grad is None
    del m.scales["b"]
    assert list(m.scales.keys()) == ["a"] and "scales.b" not in m.state_dict()
    with pytest.raises(KeyError, match="has no key 'z'"):
        m.scales["z"]
    with pytest.raises(IndexError, match="out of range"):
        m.means[7]
    with pytest.raises(TypeError, match="expected a Parameter or a tensor, got str"):
        m.means.append("w")
    # the state dict round-trips through PyTorch's layout
    sd = m.state_dict()
    m2 = _Mixture()
    del m2.scales["b"]
    m2.means.append(dw.zeros(2))
    m2.load_state_dict(sd)
    assert np.array_equal(np.asarray(m2.means[3].data), np.ones(2))
    # a plain dict is added in sorted key order (PyTorch's rule), an OrderedDict in its own
    from collections import OrderedDict

    pairs = {"z": dw.zeros(1), "a": dw.zeros(1), "m": dw.zeros(1)}
    assert list(nn.ParameterDict(pairs).keys()) == ["a", "m", "z"]
    assert list(nn.ParameterDict(OrderedDict(pairs)).keys()) == ["z", "a", "m"]
    assert list(nn.ParameterDict(list(pairs.items())).keys()) == ["z", "a", "m"]
    needs_torch()
    tpairs = {k: torch.nn.Parameter(torch.zeros(1)) for k in pairs}
    assert list(torch.nn.ParameterDict(tpairs).keys()) == ["a", "m", "z"]
    assert list(torch.nn.ParameterDict(OrderedDict(tpairs)).keys()) == ["z", "a", "m"]
    tl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2)) for _ in range(4)])
    td = torch.nn.ParameterDict({"a": torch.nn.Parameter(torch.ones(2))})
    assert list(tl.state_dict()) == list(m.means.state_dict())
    assert list(td.state_dict()) == list(m.scales.state_dict())


def test_parameters_to_vector_and_back():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2, bias=False))
    v = nn.utils.parameters_to_vector(model.parameters())
    assert v.shape == (3 * 4 + 4 + 4 * 2,) and v.requires_grad
    (v * dw.arange(v.shape[0], dtype=v.dtype)).sum().backward()
    assert np.array_equal(np.asarray(model[0].weight.grad.data).ravel(), np.arange(12))
    target = dw.tensor(np.arange(24, dtype=np.float32))
    nn.utils.vector_to_parameters(target, model.parameters())
    assert np.array_equal(np.asarray(model[2].weight.data).ravel(), np.arange(16, 24))
    with pytest.raises(ValueError, match="vec has 5 elements, the parameters have 24"):
        nn.utils.vector_to_parameters(dw.zeros(5), model.parameters())
    needs_torch()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 2, bias=False))
    tmodel.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in
                            model.state_dict().items()})
    tv = torch.nn.utils.parameters_to_vector(tmodel.parameters())
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(model.parameters()).data,
                                  tv.detach().numpy())


# ---- state_dict values behave like tensors (and stay NumPy arrays) -----------------------------

def test_state_dict_values_behave_like_tensors(tmp_path):
    import copy

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    sd = model.state_dict()
    w = sd["0.weight"]
    assert isinstance(w, np.ndarray) and w.shape == (4, 3) and w.dtype == dw.float32
    c = w.clone()  # PyTorch's idioms on a state-dict value
    assert isinstance(c, dw.Tensor) and not c.requires_grad
    np.testing.assert_array_equal(c.data, np.asarray(model[0].weight.data))
    assert type(w.numpy()) is np.ndarray and type(w.detach().cpu().numpy()) is np.ndarray
    assert w.dim() == 2 and w.numel() == 12 and w.is_floating_point()
    assert not sd["1.num_batches_tracked"].is_floating_point()
    assert w.double().dtype == np.float64 and w.to(dw.float64).dtype == np.float64
    np.testing.assert_allclose(w * 2 - w, w)  # arithmetic
    best = {k: v.clone() for k, v in sd.items()}
    best_deep = copy.deepcopy(sd)
    sd["0.weight"].zero_()  # the values share the model's memory, as in PyTorch
    assert not np.asarray(model[0].weight.data).any()
    assert np.abs(best["0.weight"].data).sum() > 0 and np.abs(best_deep["0.weight"]).sum() > 0
    model.load_state_dict(best)  # Tensors from clone() load back
    np.testing.assert_array_equal(np.asarray(model[0].weight.data), best["0.weight"].data)
    model.load_state_dict(best_deep)
    dw.save(model.state_dict(), tmp_path / "m.safetensors")  # and save as before
    back = dw.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back["0.weight"], np.asarray(model[0].weight.data))
    needs_torch()
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    tmodel.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    tmodel.load_state_dict({k: torch.from_numpy(v.clone().numpy()) for k, v in
                            model.state_dict().items()})
    model.load_state_dict(tmodel.state_dict())
    np.testing.assert_array_equal(model.state_dict()["0.bias"], tmodel[0].bias.detach().numpy())
