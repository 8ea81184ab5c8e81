"""optim.Adadelta and optim.LBFGS: parity with PyTorch over several steps (same weights, same
data), their options, and that they minimise."""

import numpy as np
import pytest
from helpers import needs_torch, rand, torch

import deepwise as dw
from deepwise import nn, optim


def _pair(dtype=np.float32):
    """A deepwise MLP and a copy of its weights for PyTorch, plus data."""
    dw.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).to(dtype)
    x, y = rand(16, 3, seed=1).astype(dtype), rand(16, 2, seed=2).astype(dtype)
    return model, x, y


def _torch_model(model):
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    tm.load_state_dict({k: torch.tensor(np.array(v.data)) for k, v in model.state_dict().items()})
    return tm.to(torch.float64 if model[0].weight.dtype == np.float64 else torch.float32)


def _dw_loss(model, x, y):
    return ((model(dw.tensor(x)) - dw.tensor(y)) ** 2).mean()


def _compare(model, tm, rtol):
    for (k, v), (_, tv) in zip(model.state_dict().items(), tm.state_dict().items()):
        np.testing.assert_allclose(v.data, tv.numpy(), rtol=rtol, atol=rtol, err_msg=k)


@pytest.mark.parametrize("kw", [{}, {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1},
                                {"eps": 1e-4, "maximize": True}])
def test_adadelta_matches_torch_over_steps(kw):
    model, x, y = _pair()
    opt = optim.Adadelta(model.parameters(), **kw)
    first = None
    for _ in range(25):
        opt.zero_grad()
        loss = _dw_loss(model, x, y)
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    if not kw.get("maximize"):
        assert _dw_loss(model, x, y).item() < first
    needs_torch()
    model2, _, _ = _pair()
    tm = _torch_model(model2)
    topt = torch.optim.Adadelta(tm.parameters(), **kw)
    tx, ty = torch.tensor(x), torch.tensor(y)
    for _ in range(25):
        topt.zero_grad()
        ((tm(tx) - ty) ** 2).mean().backward()
        topt.step()
    _compare(model, tm, 1e-5)


def test_adadelta_state_dict_resumes_exactly():
    model, x, y = _pair()
    opt = optim.Adadelta(model.parameters())
    for _ in range(3):
        opt.zero_grad()
        _dw_loss(model, x, y).backward()
        opt.step()
    state = opt.state_dict()
    assert set(state["state"][0]) == {"step", "square_avg", "acc_delta"}
    with pytest.raises(ValueError, match=r"Adadelta: invalid rho=1.5"):
        optim.Adadelta(model.parameters(), rho=1.5)


@pytest.mark.parametrize("kw", [{"lr": 1, "max_iter": 20}, {"lr": 0.5, "max_iter": 5,
                                                             "history_size": 3}])
def test_lbfgs_matches_torch_in_float64(kw):
    model, x, y = _pair(np.float64)
    opt = optim.LBFGS(model.parameters(), **kw)

    def closure():
        opt.zero_grad()
        loss = _dw_loss(model, x, y)
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(4)]
    assert _dw_loss(model, x, y).item() < 0.5 * losses[0]
    needs_torch()
    model2, _, _ = _pair(np.float64)
    tm = _torch_model(model2)
    topt = torch.optim.LBFGS(tm.parameters(), **kw)
    tx, ty = torch.tensor(x), torch.tensor(y)

    def tclosure():
        topt.zero_grad()
        loss = ((tm(tx) - ty) ** 2).mean()
        loss.backward()
        return loss

    tlosses = [topt.step(tclosure).item() for _ in range(4)]
    np.testing.assert_allclose(losses, tlosses, rtol=1e-7)
    _compare(model, tm, 1e-7)


def test_lbfgs_needs_a_closure_and_one_group():
    model, _, _ = _pair()
    with pytest.raises(ValueError, match="needs a closure"):
        optim.LBFGS(model.parameters()).step()
    with pytest.raises(ValueError, match="line_search_fn='wolfe' is not supported"):
        optim.LBFGS(model.parameters(), line_search_fn="wolfe")
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [model[0].weight]}, {"params": [model[2].weight]}])
