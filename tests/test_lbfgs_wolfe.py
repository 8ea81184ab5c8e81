"""LBFGS(line_search_fn="strong_wolfe"): the same iterates as torch.optim.LBFGS in float64 (every
point the line search tries, not only where each step ends), on Rosenbrock's valley and on a
small regression; and that it converges where the fixed step does not."""

import numpy as np
import pytest
from helpers import needs_torch, torch

import deepwise as dw
from deepwise import nn, optim
from deepwise.optim.lbfgs import _cubic_interpolate


def _rosenbrock(xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _run_rosenbrock(lib, steps, **kw):
    """Minimise Rosenbrock from (-1.5, 2); returns the points where the closure was called and
    the position after each step."""
    tensor = dw.tensor if lib is dw else torch.tensor
    p = tensor([-1.5, 2.0], dtype=lib.float64, requires_grad=True)
    opt = (optim.LBFGS if lib is dw else torch.optim.LBFGS)([p], **kw)
    trials, ends = [], []

    def closure():
        opt.zero_grad()
        trials.append(np.array(p.detach().numpy()))
        loss = _rosenbrock(p)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
        ends.append(np.array(p.detach().numpy()))
    return np.array(trials), np.array(ends)


@pytest.mark.parametrize("kw,steps", [
    ({"lr": 1, "max_iter": 20}, 3),
    ({"lr": 0.7, "max_iter": 8, "history_size": 4, "max_eval": 12}, 6),
])
def test_rosenbrock_converges_and_matches_torch(kw, steps):
    trials, ends = _run_rosenbrock(dw, steps, line_search_fn="strong_wolfe", **kw)
    assert np.abs(ends[-1] - 1).max() < 1e-3, ends[-1]  # the minimum is (1, 1)
    _, fixed = _run_rosenbrock(dw, steps, **kw)
    assert np.abs(fixed[-1] - 1).max() > 0.1  # the fixed step is still far after as many steps
    needs_torch()
    ttrials, tends = _run_rosenbrock(torch, steps, line_search_fn="strong_wolfe", **kw)
    assert trials.shape == ttrials.shape, (len(trials), len(ttrials))
    np.testing.assert_allclose(trials, ttrials, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ends, tends, rtol=1e-9, atol=1e-12)


def test_regression_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    y = x @ rng.standard_normal((5, 2)) + 0.1 * rng.standard_normal((40, 2)) + 0.5
    dw.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    state = {k: np.array(v) for k, v in model.state_dict().items()}
    opt = optim.LBFGS(model.parameters(), lr=1, max_iter=10, history_size=5,
                      line_search_fn="strong_wolfe")
    losses = []

    def closure():
        opt.zero_grad()
        loss = ((model(dw.tensor(x)) - dw.tensor(y)) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        return loss

    for _ in range(3):
        opt.step(closure)
    assert losses[-1] < 0.05 * losses[0]
    needs_torch()
    tm = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    tm = tm.double()
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    topt = torch.optim.LBFGS(tm.parameters(), lr=1, max_iter=10, history_size=5,
                             line_search_fn="strong_wolfe")
    tx, ty, tlosses = torch.from_numpy(x), torch.from_numpy(y), []

    def tclosure():
        topt.zero_grad()
        loss = ((tm(tx) - ty) ** 2).mean()
        loss.backward()
        tlosses.append(loss.item())
        return loss

    for _ in range(3):
        topt.step(tclosure)
    assert len(losses) == len(tlosses)
    np.testing.assert_allclose(losses, tlosses, rtol=1e-8)
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(np.asarray(model.state_dict()[k]), v.numpy(), rtol=1e-7,
                                   atol=1e-9, err_msg=k)


def test_cubic_interpolate():
    # f = (t - 2)^2 sampled at 0 and 3 (slopes -4 and 2): the cubic is the parabola, min at 2
    assert _cubic_interpolate(0.0, 4.0, -4.0, 3.0, 1.0, 2.0) == pytest.approx(2.0)
    assert _cubic_interpolate(3.0, 1.0, 2.0, 0.0, 4.0, -4.0) == pytest.approx(2.0)
    assert _cubic_interpolate(0.0, 4.0, -4.0, 3.0, 1.0, 2.0, bounds=(2.5, 5)) == 2.5
    # no real minimiser (d1^2 < g1 g2): the middle of the bounds
    assert _cubic_interpolate(0.0, 0.0, 1.0, 1.0, 2 / 3, 1.0, bounds=(0.0, 3.0)) == 1.5
