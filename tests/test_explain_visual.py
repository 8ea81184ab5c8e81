"""Gradient descent on 2-D surfaces, CNN/RNN pictures, and the `deepwise explain` commands."""

import argparse

import numpy as np
import pytest

import deepwise as dw
from deepwise import explain, nn, optim

PNG = b"\x89PNG\r\n\x1a\n"


def _image(path):
    """The PNG as an array (H, W, 4), via matplotlib."""
    import matplotlib.image as mpimg
    return mpimg.imread(str(path))


def test_one_sgd_step_is_minus_the_gradient():
    text = explain.explain_step("bowl", lr=0.05)
    assert "grad f(p0) = (-4.5, 37.5)" in text  # (x, 25 y) at (-4.5, 1.5)
    assert "-lr * grad = -0.05 * (-4.5, 37.5) = (0.225, -1.875)" in text
    assert "p1 = (-4.275, -0.375)   (the same)" in text
    path = explain.descend("bowl", optim.SGD, steps=1, lr=0.05)
    np.testing.assert_allclose(path[1], [-4.5 + 0.225, 1.5 - 1.875])


def test_descend_matches_the_update_rule_and_reaches_the_minimum():
    path = explain.descend("bowl", optim.SGD, steps=40, lr=0.03)
    p = np.array([-4.5, 1.5])
    for _ in range(40):
        p = p - 0.03 * np.array([p[0], 25 * p[1]])
    np.testing.assert_allclose(path[-1], p, rtol=1e-10)
    res = explain.compare_optimizers(steps={"bowl": 60, "rosenbrock": 400})
    for name in ("bowl", "rosenbrock"):
        assert set(res.paths[name]) == {"SGD", "SGD + momentum", "Adam"}
    d = res.distances
    # every optimizer gets closer than it started; on Rosenbrock, Adam and momentum beat SGD
    start_bowl, start_rb = np.hypot(-4.5, 1.5), np.hypot(-2.5, 1.0)
    assert all(v < 0.2 * start_bowl for v in d["bowl"].values())
    assert d["rosenbrock"]["Adam"] < d["rosenbrock"]["SGD"] < start_rb
    assert d["rosenbrock"]["SGD + momentum"] < d["rosenbrock"]["SGD"]


def test_descent_picture(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "descent.png"
    lines = []
    res = explain.descent(out, steps={"bowl": 30, "rosenbrock": 200}, print_fn=lines.append)
    assert out.read_bytes()[:8] == PNG
    img = _image(out)
    assert img.shape[1] > 1000 and img[..., :3].std() > 0.05  # not blank
    assert "the step is minus the gradient" in lines[0] and "optim.Adam(lr=0.05)" in res.text


def test_show_filters_and_feature_maps(tmp_path):
    pytest.importorskip("matplotlib")
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 10))
    explain.show_filters(model[0], tmp_path / "f1.png")
    explain.show_filters(model[3], tmp_path / "f2.png", max_channels=3)
    explain.show_filters(nn.Conv2d(3, 5, 5), tmp_path / "rgb.png")
    for name in ("f1", "f2", "rgb"):
        img = _image(tmp_path / f"{name}.png")
        assert img[..., :3].std() > 0.05, name
    x = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    fig = explain.feature_maps(model, x, tmp_path / "maps.png")
    assert list(fig.maps) == ["0", "1", "2", "3", "4"]
    assert fig.maps["0"].shape == (6, 8, 8) and fig.maps["2"].shape == (6, 4, 4)
    with dw.no_grad():
        expect = model[0](dw.tensor(x[None])).data[0]
    np.testing.assert_allclose(fig.maps["0"], expect, rtol=1e-6)
    assert _image(tmp_path / "maps.png")[..., :3].std() > 0.05
    fig = explain.feature_maps(model, x[0], layers=["1"])
    assert list(fig.maps) == ["1"] and (fig.maps["1"] >= 0).all()
    with pytest.raises(KeyError, match="no layers"):
        explain.feature_maps(model, x, layers=["9"])
    with pytest.raises(ValueError, match="out, in, kh, kw"):
        explain.show_filters(np.zeros((3, 3)))


def test_hidden_states_heatmap(tmp_path):
    pytest.importorskip("matplotlib")
    h = np.tanh(np.cumsum(np.random.default_rng(0).standard_normal((2, 12, 5)), axis=1))
    fig = explain.hidden_states(dw.tensor(h), tmp_path / "h.png", sample=1,
                                labels=list("hello world!"))
    ax = fig.axes[0]
    data = ax.images[0].get_array()
    np.testing.assert_allclose(data, h[1].T)  # units x time
    assert ax.get_xlabel() == "time step" and ax.get_ylabel() == "hidden unit"
    assert _image(tmp_path / "h.png")[..., :3].std() > 0.05
    with pytest.raises(ValueError, match="labels"):
        explain.hidden_states(h[0], labels=["a"])
    with pytest.raises(ValueError, match=r"\(T, H\)"):
        explain.hidden_states(np.zeros(4))


def test_hidden_states_of_a_real_rnn(tmp_path):
    pytest.importorskip("matplotlib")
    rnn = nn.GRU(3, 6, batch_first=True)
    out, _ = rnn(dw.randn(1, 10, 3))
    fig = explain.hidden_states(out)
    assert fig.axes[0].images[0].get_array().shape == (6, 10)


def _parser():
    from deepwise.explain.cli import add_commands
    p = argparse.ArgumentParser(prog="deepwise")
    add_commands(p.add_subparsers(dest="command"))
    return p


def test_cli_explain_backprop_and_descent(tmp_path, capsys):
    p = _parser()
    args = p.parse_args(["explain", "backprop"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "25 of 25 derivatives agree with finite differences" in out
    assert "w5  0.40000000 -> 0.35891648" in out
    pytest.importorskip("matplotlib")
    args = p.parse_args(["explain", "descent", "--out", str(tmp_path / "d.png"), "--steps", "20"])
    assert args.func(args) == 0
    assert (tmp_path / "d.png").read_bytes()[:8] == PNG
    assert "optim.SGD gives" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        p.parse_args(["explain"])  # a sub-command is required
