"""Adamax, NAdam, RAdam and the schedules CosineAnnealingWarmRestarts and SequentialLR: the same
numbers as PyTorch over many steps (same weights, same data)."""

import numpy as np
import pytest
from helpers import needs_torch, rand, torch

import deepwise as dw
from deepwise import nn, optim
from deepwise.optim import lr_scheduler as S


def _model():
    dw.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def _train(opt_cls, kw, steps=30):
    model = _model()
    x, y = dw.tensor(rand(16, 3, seed=1).astype(np.float32)), \
        dw.tensor(rand(16, 2, seed=2).astype(np.float32))
    opt = opt_cls(model.parameters(), **kw)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return model, losses


def _torch_train(name, kw, model, steps=30):
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    tm.load_state_dict({k: torch.tensor(np.array(v)) for k, v in model.state_dict().items()})
    x, y = torch.tensor(rand(16, 3, seed=1).astype(np.float32)), \
        torch.tensor(rand(16, 2, seed=2).astype(np.float32))
    opt = getattr(torch.optim, name)(tm.parameters(), **kw)
    for _ in range(steps):
        opt.zero_grad()
        ((tm(x) - y) ** 2).mean().backward()
        opt.step()
    return tm


CASES = [
    ("Adamax", {}), ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("NAdam", {}), ("NAdam", {"lr": 0.01, "weight_decay": 0.05, "momentum_decay": 0.01}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {}), ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
]


@pytest.mark.parametrize("name,kw", CASES)
def test_matches_torch_over_30_steps(name, kw):
    model, losses = _train(getattr(optim, name), kw)
    if not kw.get("maximize"):
        assert losses[-1] < losses[0]
    needs_torch()
    tm = _torch_train(name, kw, _model())
    for (k, v), tv in zip(model.state_dict().items(), tm.state_dict().values()):
        np.testing.assert_allclose(v, tv.numpy(), rtol=2e-5, atol=2e-6, err_msg=f"{name} {k}")


def test_options_are_checked():
    with pytest.raises(ValueError, match=r"Adamax: invalid betas"):
        optim.Adamax(_model().parameters(), betas=(1.0, 0.9))
    with pytest.raises(ValueError, match=r"NAdam: invalid momentum_decay"):
        optim.NAdam(_model().parameters(), momentum_decay=-1)


def _lrs(make, steps, lib):
    params = [dw.nn.Parameter(dw.zeros(1))] if lib == "dw" else [torch.zeros(1,
                                                                            requires_grad=True)]
    opt = (optim.SGD if lib == "dw" else torch.optim.SGD)(params, lr=0.1)
    sched = make(opt, S if lib == "dw" else torch.optim.lr_scheduler)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


SCHEDULES = {
    "warm_restarts": lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                 eta_min=0.001),
    "warm_restarts_flat": lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=4),
    "warmup_then_cosine": lambda o, m: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.CosineAnnealingLR(o, T_max=10)],
        milestones=[4]),
    "three_phases": lambda o, m: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.5, total_iters=2),
            m.StepLR(o, step_size=2, gamma=0.5), m.ExponentialLR(o, gamma=0.9)],
        milestones=[3, 8]),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedules_match_torch(name):
    ours = _lrs(SCHEDULES[name], 20, "dw")
    assert len(set(np.round(ours, 8))) > 3  # the rate does change
    needs_torch()
    np.testing.assert_allclose(ours, _lrs(SCHEDULES[name], 20, "torch"), rtol=1e-9)


def test_warm_restarts_jump_to_an_epoch_and_sequential_state_dict():
    opt = optim.SGD([dw.nn.Parameter(dw.zeros(1))], lr=1.0)
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    sched.step(5.0)  # cycles of 2, 4: epoch 5 is 3 steps into the second cycle
    assert sched.T_i == 4 and sched.T_cur == 3.0
    opt2 = optim.SGD([dw.nn.Parameter(dw.zeros(1))], lr=1.0)
    seq = S.SequentialLR(opt2, [S.LinearLR(opt2, 0.5, total_iters=2),
                                S.ExponentialLR(opt2, 0.5)], milestones=[2])
    for _ in range(3):
        seq.step()
    state = seq.state_dict()
    assert state["last_epoch"] == 3 and len(state["_schedulers"]) == 2
    with pytest.raises(ValueError, match="expected 1 milestones for 2 schedulers"):
        S.SequentialLR(opt2, [S.ExponentialLR(opt2, 0.5), S.ExponentialLR(opt2, 0.5)], [])
