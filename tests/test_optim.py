"""Optimizers: parity with PyTorch step by step, checkpoints that resume exactly, param groups,
zero_grad, option errors, and one small learning run per optimizer."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import SKIP_TORCH, torch

import deepwise as dw
from deepwise import optim
from deepwise.autograd import ShapeError

SHAPES = [(4, 3), (5,), (2, 3, 2), (1,)]

OPTIMIZERS = {"SGD": optim.SGD, "Adam": optim.Adam, "AdamW": optim.AdamW,
              "RMSprop": optim.RMSprop, "Adagrad": optim.Adagrad}

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("Adam", dict(lr=1e-2, maximize=True)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2, centered=True)),
    ("RMSprop", dict(lr=1e-2, momentum=0.9)),
    ("RMSprop", dict(lr=1e-2, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=1e-2, maximize=True, momentum=0.3)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
]


def _init(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]


def _grads(steps: int, seed: int = 1) -> list[list[np.ndarray | None]]:
    """A fixed sequence of random gradients; parameter #1 gets none on every third step."""
    rng = np.random.default_rng(seed)
    seq = []
    for t in range(steps):
        gs = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        if t % 3 == 2:
            gs[1] = None
        seq.append(gs)
    return seq


def _dw_params(init: list[np.ndarray]) -> list[dw.Tensor]:
    return [dw.tensor(a.copy(), requires_grad=True) for a in init]


def _set_grads(params: list, grads: list, lib: str) -> None:
    for p, g in zip(params, grads):
        if g is None:
            p.grad = None
        else:
            p.grad = dw.tensor(g.copy()) if lib == "dw" else torch.tensor(g.copy())


def _run(opt, params, grads, lib: str = "dw") -> None:
    for gs in grads:
        _set_grads(params, gs, lib)
        opt.step()


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_parity_with_torch(name, kwargs, kernel_path):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    init, grads = _init(), _grads(50)
    dps = _dw_params(init)
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    dopt = OPTIMIZERS[name](dps, **kwargs)
    topt = getattr(torch.optim, name)(tps, **kwargs)
    for t, gs in enumerate(grads):
        _set_grads(dps, gs, "dw")
        _set_grads(tps, gs, "torch")
        dopt.step()
        topt.step()
        if t in (0, 9, 49):
            for i, (a, b) in enumerate(zip(dps, tps)):
                assert a.dtype == np.float32
                np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-6, atol=1e-6,
                                           err_msg=f"{name}{kwargs}: param #{i} at step {t + 1}")


@pytest.mark.parametrize("name,kwargs", [c for c in CASES if c[0] != "SGD" or "momentum" in c[1]],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_state_dict_resume_is_exact(name, kwargs, kernel_path):
    init, grads = _init(), _grads(50)
    ref = _dw_params(init)
    ref_opt = OPTIMIZERS[name](ref, **kwargs)
    _run(ref_opt, ref, grads)

    first = _dw_params(init)
    opt = OPTIMIZERS[name](first, **kwargs)
    _run(opt, first, grads[:25])
    blob = pickle.dumps((opt.state_dict(), [p.data for p in first]))  # another process's file
    _run(opt, first, grads[25:27])  # training on must not change the saved snapshot
    sd, values = pickle.loads(blob)
    assert sorted(sd["state"]) == list(range(len(SHAPES)))
    resumed = [dw.tensor(v, requires_grad=True) for v in values]
    opt2 = OPTIMIZERS[name](resumed, lr=123.0)  # options come back from the state dict too
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    _run(opt2, resumed, grads[25:])
    for a, b in zip(ref, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_layout_and_cast():
    ps = _dw_params(_init())
    opt = optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}], lr=0.1)
    _run(opt, ps, _grads(3))
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["lr"] == 0.1
    assert sd["state"][0]["step"] == 3 and sd["state"][1]["step"] == 2  # #1 skipped once
    assert sd["state"][0]["exp_avg"] is not opt.state[ps[0]]["exp_avg"]
    # float64 state loads into float32 parameters as float32
    for st in sd["state"].values():
        st["exp_avg"] = st["exp_avg"].astype(np.float64)
    opt.load_state_dict(sd)
    assert opt.state[ps[0]]["exp_avg"].dtype == np.float32


def test_load_state_dict_errors():
    ps = _dw_params(_init())
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    _run(opt, ps, _grads(2))
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 has 4 parameters"):
        optim.SGD(ps[:3], lr=0.1).load_state_dict(sd)
    other = [dw.zeros(*reversed(s), requires_grad=True) for s in SHAPES]
    with pytest.raises(ShapeError, match="momentum_buffer"):
        optim.SGD(other, lr=0.1).load_state_dict(sd)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_param_groups_with_own_options_match_torch(name, kernel_path):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    init, grads = _init(3), _grads(30, seed=4)
    extra = {"SGD": dict(momentum=0.9)}.get(name, {})
    dps = _dw_params(init)
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in init]

    def groups(ps):
        return [{"params": ps[:2], "lr": 0.05}, {"params": [ps[2]], "weight_decay": 0.1}]

    dopt = OPTIMIZERS[name](groups(dps), lr=0.01, **extra)
    topt = getattr(torch.optim, name)(groups(tps), lr=0.01, **extra)
    for t, gs in enumerate(grads):
        if t == 10:  # a group added mid-training (an unfrozen layer)
            dopt.add_param_group({"params": [dps[3]], "lr": 0.2})
            topt.add_param_group({"params": [tps[3]], "lr": 0.2})
        _set_grads(dps, gs, "dw")
        _set_grads(tps, gs, "torch")
        dopt.step()
        topt.step()
    for i, (a, b) in enumerate(zip(dps, tps)):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-6, atol=1e-6,
                                   err_msg=f"{name}: param #{i}")


def test_zero_grad_both_modes():
    ps = _dw_params(_init())
    opt = optim.SGD(ps, lr=0.1)
    _set_grads(ps, _grads(1)[0], "dw")
    buf = ps[0].grad.data
    opt.zero_grad(set_to_none=False)
    assert ps[0].grad.data is buf and not buf.any()
    assert all(p.grad is None or not p.grad.data.any() for p in ps)
    before = [p.data.copy() for p in ps]
    opt.step()  # zero gradients: plain SGD leaves the parameters where they are
    for a, b in zip(before, ps):
        np.testing.assert_array_equal(a, b.data)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def test_params_without_grad_are_skipped_and_grad_is_not_touched(kernel_path):
    ps = _dw_params(_init())
    opt = optim.Adam(ps, lr=0.1, weight_decay=0.1, maximize=True)
    g = np.ones(SHAPES[0], np.float32)
    ps[0].grad = dw.tensor(g.copy())
    before = [p.data.copy() for p in ps]
    opt.step()
    np.testing.assert_array_equal(ps[0].grad.data, g)  # maximize/decay never write into .grad
    assert not np.array_equal(before[0], ps[0].data)
    for a, b in zip(before[1:], ps[1:]):
        np.testing.assert_array_equal(a, b.data)
    assert list(opt.state) == [ps[0]]


def test_step_with_closure_and_backward_after_update(kernel_path):
    w = dw.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == pytest.approx(5.0)
    np.testing.assert_allclose(w.data, [0.5, -1.0])  # w - 0.25 * 2w
    # a graph that saved w's data must notice the in-place update
    y = (w * w).sum()
    w.grad = dw.tensor([1.0, 1.0])
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_option_errors():
    p = [dw.zeros(3, requires_grad=True)]
    bad = [
        (optim.SGD, dict(lr=-0.1), "lr=-0.1"),
        (optim.SGD, dict(lr=0.1, momentum=-0.5), "momentum"),
        (optim.SGD, dict(lr=0.1, weight_decay=-1), "weight_decay"),
        (optim.SGD, dict(lr=0.1, nesterov=True), "Nesterov"),
        (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
        (optim.Adam, dict(betas=(1.0, 0.999)), "betas"),
        (optim.Adam, dict(betas=(0.9, -0.1)), "betas"),
        (optim.Adam, dict(eps=-1e-8), "eps"),
        (optim.AdamW, dict(weight_decay=-0.01), "weight_decay"),
        (optim.RMSprop, dict(alpha=-0.9), "alpha"),
        (optim.RMSprop, dict(momentum=-0.9), "momentum"),
        (optim.Adagrad, dict(lr_decay=-1), "lr_decay"),
        (optim.Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    ]
    for cls, kwargs, match in bad:
        with pytest.raises(ValueError, match=match):
            cls(p, **kwargs)
    with pytest.raises(ValueError, match="lr"):  # a group's own option is checked too
        optim.SGD([{"params": p, "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="set"):
        optim.SGD([{"params": set(p)}], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p[0], lr=0.1)
    with pytest.raises(TypeError, match="list"):
        optim.SGD([p[0], [1.0]], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p[0] * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": p}, {"params": p}], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        optim.SGD(p + p, lr=0.1)
    opt = optim.SGD(p, lr=0.1)
    p[0].grad = dw.zeros(4)
    with pytest.raises(ShapeError, match=r"shape \(3,\) has a gradient of shape \(4,\)"):
        opt.step()


# ---- learning: each optimizer minimises a function to below a stated bound ------------------

def _rosenbrock(p: dw.Tensor) -> dw.Tensor:
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 10 * (y - x * x) ** 2


def _quadratic(p: dw.Tensor) -> dw.Tensor:
    """An ill-conditioned bowl: curvatures 1 ... 20, minimum 0 at (1, -2, 3, 0.5)."""
    c = dw.tensor([1.0, 5.0, 20.0, 2.0])
    return (c * (p - dw.tensor([1.0, -2.0, 3.0, 0.5])) ** 2).sum()


@pytest.mark.parametrize("cls,kwargs,fn,steps,bound", [
    (optim.SGD, dict(lr=0.01, momentum=0.9), _quadratic, 300, 1e-6),
    (optim.SGD, dict(lr=2e-3, momentum=0.9, nesterov=True), _rosenbrock, 1500, 1e-3),
    (optim.Adam, dict(lr=0.05), _rosenbrock, 1500, 1e-4),
    (optim.AdamW, dict(lr=0.05, weight_decay=1e-4), _quadratic, 500, 1e-4),
    (optim.RMSprop, dict(lr=1e-2, centered=True), _quadratic, 500, 1e-3),
    (optim.Adagrad, dict(lr=0.5), _quadratic, 500, 1e-4),
], ids=["SGD-quadratic", "SGD-nesterov-rosenbrock", "Adam-rosenbrock", "AdamW-quadratic",
        "RMSprop-quadratic", "Adagrad-quadratic"])
def test_learns(cls, kwargs, fn, steps, bound, kernel_path):
    start = [-1.0, 1.5] if fn is _rosenbrock else [0.0, 0.0, 0.0, 0.0]
    p = dw.tensor(start, requires_grad=True)
    opt = cls([p], **kwargs)
    first = float(fn(p).item())
    for _ in range(steps):
        opt.zero_grad()
        loss = fn(p)
        loss.backward()
        opt.step()
    final = float(fn(p).item())
    assert final < bound, f"{cls.__name__}: loss {first:.3g} -> {final:.3g}, bound {bound}"
