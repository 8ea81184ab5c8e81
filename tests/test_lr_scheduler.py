"""Learning-rate schedulers: the same learning rates (and cycled momenta) as PyTorch's for 50
steps, resumption from state dicts, and errors for bad options."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from helpers import SKIP_TORCH, torch

import deepwise as dw
from deepwise import optim
from deepwise.optim import lr_scheduler as S

LRS = (0.1, 0.02)  # two parameter groups with their own lr


def _harmonic(epoch):
    return 1.0 / (1 + epoch)


SCHEDULERS = [
    ("LambdaLR", dict(lr_lambda=lambda e: 0.9 ** e)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 0.9 ** e, _harmonic])),
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=20)),  # past T_max: the cosine climbs back
    ("CosineAnnealingLR", dict(T_max=50, eta_min=1e-3)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=1.0, total_iters=10)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=30)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=50)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.1], epochs=5, steps_per_epoch=10, pct_start=0.25,
                        anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=50, three_phase=True, base_momentum=0.8,
                        max_momentum=[0.9, 0.95])),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=60, cycle_momentum=False)),
]


def _params(lib, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(4)
            .astype(np.float32)]
    if lib == "dw":
        return [dw.tensor(a, requires_grad=True) for a in init]
    return [torch.tensor(a, requires_grad=True) for a in init]


def _optimizer(lib, kind="SGD"):
    ps = _params(lib)
    mod = optim if lib == "dw" else torch.optim
    groups = [{"params": [ps[0]], "lr": LRS[0]}, {"params": [ps[1]], "lr": LRS[1]}]
    if kind == "Adam":
        return mod.Adam(groups), ps
    return mod.SGD(groups, momentum=0.9), ps


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_parity_with_torch(name, kwargs, kind):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    dopt, _ = _optimizer("dw", kind)
    topt, _ = _optimizer("torch", kind)
    dsched = getattr(S, name)(dopt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    steps = getattr(tsched, "total_steps", 51) - 1
    for t in range(steps + 1):
        np.testing.assert_allclose(dsched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12,
                                   atol=1e-15, err_msg=f"{name}: lr at step {t}")
        assert [g["lr"] for g in dopt.param_groups] == dsched.get_last_lr()
        np.testing.assert_allclose(_momenta(dopt), _momenta(topt), rtol=1e-12,
                                   err_msg=f"{name}: momentum at step {t}")
        if t < steps:
            dopt.step()
            topt.step()
            dsched.step()
            tsched.step()


def test_scheduled_training_matches_torch():
    """The scheduled lr really drives the updates: SGD + warm-up + cosine vs PyTorch."""
    if torch is None:
        pytest.skip(SKIP_TORCH)
    rng = np.random.default_rng(5)
    dopt, dps = _optimizer("dw")
    topt, tps = _optimizer("torch")
    dsched = S.OneCycleLR(dopt, max_lr=0.5, total_steps=40)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, total_steps=40)
    for _ in range(40):
        for dp, tp in zip(dps, tps):
            g = rng.standard_normal(dp.shape).astype(np.float32)
            dp.grad, tp.grad = dw.tensor(g), torch.tensor(g)
        dopt.step()
        topt.step()
        dsched.step()
        tsched.step()
    for a, b in zip(dps, tps):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.01),
    dict(mode="min", factor=0.5, patience=1, threshold=0.05, threshold_mode="abs", cooldown=2,
         min_lr=[0.01, 0.005]),
    dict(mode="max", factor=0.2, patience=0, threshold_mode="abs", min_lr=1e-3, eps=1e-4),
])
def test_reduce_on_plateau_matches_torch(kwargs):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    rng = np.random.default_rng(2)
    # a metric that improves, then plateaus with noise, then jumps
    metric = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.02 * rng.standard_normal(30),
                             np.linspace(0.45, 0.4, 5), 0.4 + 0.01 * rng.standard_normal(15)])
    metric = metric.astype(np.float32)  # both sides see the same float32 values
    dopt, _ = _optimizer("dw")
    topt, _ = _optimizer("torch")
    dsched = S.ReduceLROnPlateau(dopt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    changes = 0
    for t, m in enumerate(metric):
        dsched.step(dw.tensor(m))  # a one-element tensor is accepted as the metric
        tsched.step(float(m))
        assert dsched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12), t
        assert dsched.num_bad_epochs == tsched.num_bad_epochs
        changes += dsched.get_last_lr() != list(LRS)
    assert changes > 0, "the metric sequence never triggered a reduction: the test is too weak"


def test_step_with_epoch_uses_closed_form_like_torch():
    if torch is None:
        pytest.skip(SKIP_TORCH)
    for name, kwargs in [("StepLR", dict(step_size=4)), ("MultiStepLR", dict(milestones=[3, 9])),
                         ("ExponentialLR", dict(gamma=0.9)), ("CosineAnnealingLR",
                                                              dict(T_max=12)),
                         ("LinearLR", dict(total_iters=6))]:
        dopt, _ = _optimizer("dw")
        topt, _ = _optimizer("torch")
        dsched = getattr(S, name)(dopt, **kwargs)
        tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in (5, 2, 10):
                dsched.step(epoch)
                tsched.step(epoch)
                assert dsched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("name,kwargs", SCHEDULERS[2:] + [("ReduceLROnPlateau",
                                                          dict(patience=1, factor=0.5))],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_state_dict_resume(name, kwargs):
    def make():
        opt, _ = _optimizer("dw")
        return opt, getattr(S, name)(opt, **kwargs)

    def advance(opt, sched, ts):
        for t in ts:
            opt.step()
            if name == "ReduceLROnPlateau":
                sched.step([3.0, 2.0, 2.5, 2.4, 2.6, 2.7, 1.0, 1.5][t % 8])
            else:
                sched.step()

    total = 49
    ref_opt, ref = make()
    advance(ref_opt, ref, range(total))
    opt, sched = make()
    advance(opt, sched, range(20))
    blob = pickle.dumps((opt.state_dict(), sched.state_dict()))
    osd, ssd = pickle.loads(blob)
    opt2, sched2 = make()  # build the scheduler first, then load both (PyTorch's order)
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    assert sched2.last_epoch == sched.last_epoch and sched2.get_last_lr() == sched.get_last_lr()
    advance(opt2, sched2, range(20, total))
    assert sched2.get_last_lr() == ref.get_last_lr()
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in ref_opt.param_groups]
    assert _momenta(opt2) == _momenta(ref_opt)


def test_checkpoint_through_deepwise_io(tmp_path):
    """Optimizer + scheduler state dicts survive deepwise.io's safetensors checkpoint format."""
    from deepwise.io import serialization

    def make():
        opt, ps = _optimizer("dw", "Adam")
        return opt, ps, S.MultiStepLR(opt, milestones=[2, 4, 4], gamma=0.5)

    grads = [[np.full(p.shape, 0.1 * (t + 1), np.float32) for p in _params("dw")]
             for t in range(8)]

    def run(opt, ps, sched, ts):
        for t in ts:
            for p, g in zip(ps, grads[t]):
                p.grad = dw.tensor(g)
            opt.step()
            sched.step()

    ref_opt, ref_ps, ref = make()
    run(ref_opt, ref_ps, ref, range(8))
    opt, ps, sched = make()
    run(opt, ps, sched, range(3))
    path = str(tmp_path / "ckpt.safetensors")
    serialization.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "params": [p.data for p in ps]}, path)
    back = serialization.load(path)
    opt2, ps2, sched2 = make()
    for p, v in zip(ps2, back["params"]):
        p.data[...] = v
    opt2.load_state_dict(back["optimizer"])
    sched2.load_state_dict(back["scheduler"])
    run(opt2, ps2, sched2, range(3, 8))
    assert sched2.get_last_lr() == ref.get_last_lr()
    for a, b in zip(ps2, ref_ps):
        np.testing.assert_array_equal(a.data, b.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched2.step(5)  # the closed form still works on the reloaded milestones
    assert sched2.get_last_lr() == [lr * 0.5 ** 3 for lr in LRS]


def test_lambda_state_dict_keeps_callable_objects_state():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)

    opt, _ = _optimizer("dw")
    sched = S.LambdaLR(opt, [Warmup(4), lambda e: 1.0])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"n": 4}, None]
    opt2, _ = _optimizer("dw")
    sched2 = S.LambdaLR(opt2, [Warmup(99), lambda e: 1.0])
    sched2.load_state_dict(sd)
    assert sched2.lr_lambdas[0].n == 4


def test_errors():
    opt, _ = _optimizer("dw")
    with pytest.raises(TypeError, match="expected an Optimizer"):
        S.StepLR("not an optimizer", step_size=3)
    with pytest.raises(ValueError, match="step_size"):
        S.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="start_factor"):
        S.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="end_factor"):
        S.LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="T_max"):
        S.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="2 values for max_lr"):
        S.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10)
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="momentum"):
        S.OneCycleLR(optim.Adagrad(_params("dw")), max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="factor"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        S.ReduceLROnPlateau(opt, mode="maximum")
    with pytest.raises(ValueError, match="threshold_mode"):
        S.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="lr_lambdas"):
        S.LambdaLR(opt, [lambda e: 1.0])
    fresh, _ = _optimizer("dw")
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(fresh, step_size=2, last_epoch=5)
    sched = S.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(2):
        sched.step()
    with pytest.raises(ValueError, match="total_steps is 3"):
        for _ in range(2):
            sched.step()
