"""Trajectory forecasting: displacement metrics, baselines, the LSTM / CVAE forecasters (frame
normalisation, PyTorch parity, learning), checkpoints, and the train / forecast commands."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from conftest import shared_data
from helpers import SKIP_TORCH, torch

import deepwise as dw
from deepwise import models
from deepwise.apps import trajectory as app
from deepwise.apps._commands import CommandError
from deepwise.data.datasets import eth_ucy
from deepwise.io import save_model
from deepwise.models.trajectory import (
    TrajectoryCVAE,
    TrajectoryLSTM,
    constant_velocity,
    linear_fit,
    neighbour_features,
)
from deepwise.train import trajectory_metrics as tm


def _curved(n: int, seed: int = 0, length: int = 20) -> np.ndarray:
    """Walkers turning at a constant rate (each its own speed, heading and turn): positions
    ``(n, length, 2)``, metres, 0.4 s apart. Constant velocity cannot follow the turn."""
    rng = np.random.default_rng(seed)
    speed = rng.uniform(0.2, 0.6, n)[:, None]
    turn = rng.choice([-1.0, 1.0], n)[:, None] * rng.uniform(0.08, 0.16, n)[:, None]
    heading = rng.uniform(0, 2 * np.pi, n)[:, None] + turn * np.arange(length)
    steps = speed[..., None] * np.stack([np.cos(heading), np.sin(heading)], -1)
    return rng.uniform(-5, 5, (n, 1, 2)) + np.cumsum(steps, 1)


# ---- metrics ---------------------------------------------------------------------------------

def test_ade_fde_per_step():
    true = np.zeros((2, 3, 2))
    pred = np.zeros((2, 3, 2))
    pred[0, :, 0] = [3.0, 0.0, 6.0]   # distances 3, 0, 6
    pred[1, :, 1] = [0.0, 4.0, 2.0]   # distances 0, 4, 2
    assert tm.ade(pred, true) == pytest.approx(15 / 6)
    assert tm.fde(pred, true) == pytest.approx(4.0)
    np.testing.assert_allclose(tm.per_step_error(pred, true), [1.5, 2.0, 4.0])
    with pytest.raises(ValueError, match=r"\(\.\.\., T, 2\).*\(2, 3, 2\) and \(2, 4, 2\)"):
        tm.ade(pred, np.zeros((2, 4, 2)))


def test_best_of_k_per_window_and_per_pedestrian():
    true = np.zeros((2, 1, 2))
    samples = np.zeros((2, 2, 1, 2))  # (K=2, N=2, T=1, 2)
    samples[0, :, 0, 0] = [1.0, 5.0]  # sample 0: errors 1 and 5 (sum 6)
    samples[1, :, 0, 0] = [4.0, 1.0]  # sample 1: errors 4 and 1 (sum 5)
    assert tm.best_of_k(samples, true) == pytest.approx((1.0, 1.0))  # each its own: 1, 1
    # one window: Social GAN keeps the sample with the least summed error (sample 1)
    assert tm.best_of_k(samples, true, np.array([0, 0])) == pytest.approx((2.5, 2.5))
    # two windows of one pedestrian each: the same as per pedestrian
    assert tm.best_of_k(samples, true, np.array([0, 1])) == pytest.approx((1.0, 1.0))
    with pytest.raises(ValueError, match=r"\(K, N, T, 2\)"):
        tm.best_of_k(samples[0], true)


# ---- baselines -------------------------------------------------------------------------------

def test_baselines_exact_on_straight_lines_and_differ_on_noise():
    t = np.arange(20.0)
    line = np.stack([1.0 + 0.4 * t, -2.0 + 0.1 * t], -1)[None]
    for f in (constant_velocity, linear_fit):
        np.testing.assert_allclose(f(line[:, :8], 12), line[:, 8:], atol=1e-12)
    noisy = line[:, :8] + np.random.default_rng(0).normal(0, 0.05, (1, 8, 2))
    v = noisy[0, -1] - noisy[0, -2]
    np.testing.assert_allclose(constant_velocity(noisy, 3)[0],
                               noisy[0, -1] + np.outer([1, 2, 3], v))
    coef = np.polyfit(np.arange(8), noisy[0], 1)  # least squares per coordinate
    np.testing.assert_allclose(linear_fit(noisy, 2)[0],
                               np.stack([np.polyval(coef[:, j], [8, 9]) for j in range(2)], -1))
    with pytest.raises(ValueError, match="observed positions of shape"):
        constant_velocity(np.zeros((3, 8)), 12)
    with pytest.raises(ValueError, match="NaN"):
        linear_fit(np.full((1, 8, 2), np.nan))


# ---- models ----------------------------------------------------------------------------------

def test_untrained_lstm_is_constant_velocity_and_frames_round_trip():
    obs = _curved(16, seed=1)
    model = TrajectoryLSTM()
    np.testing.assert_allclose(model.predict(obs[:, :8]), constant_velocity(obs[:, :8], 12),
                               atol=1e-5)
    rel, fut, rot = model.normalise(obs[:, :8], obs[:, 8:])
    assert rel.shape == (16, 7, 2) and fut.shape == (16, 12, 2) and rel.dtype == np.float32
    np.testing.assert_allclose(model.denormalise(obs[:, :8], fut, rot), obs[:, 8:], atol=1e-4)
    # in the model's frame the last observed step points along +x with length ~ 1 (own speed)
    assert np.all(rel[:, -1, 0] > 0) and np.abs(rel[:, -1, 1]).max() < 1e-5
    with pytest.raises(ValueError, match="observes 8 positions per track, got 6"):
        model.predict(obs[:, :6])


def test_forecasts_turn_with_the_walker():
    """Heading and speed normalisation: rotating, shifting and scaling the observed tracks
    does the same to the forecast (exactly, whatever the weights)."""
    model = TrajectoryCVAE()
    for p in model.parameters():  # a model that does not forecast constant velocity
        p.data[...] = np.random.default_rng(p.data.size).normal(0, 0.3, p.shape)
    obs = _curved(8, seed=2)[:, :8]
    base = model.predict(obs)
    assert np.abs(base - constant_velocity(obs, 12)).max() > 0.1
    a = 0.7
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    shift = np.array([3.0, -4.0])
    np.testing.assert_allclose(model.predict(1.7 * obs @ rot.T + shift),
                               1.7 * base @ rot.T + shift, atol=1e-4)
    samples = model.sample(obs, k=3, generator=np.random.default_rng(0))
    again = model.sample(1.7 * obs @ rot.T + shift, k=3, generator=np.random.default_rng(0))
    np.testing.assert_allclose(again, 1.7 * samples @ rot.T + shift, atol=1e-4)
    assert samples.shape == (3, 8, 12, 2) and np.abs(samples[0] - samples[1]).max() > 1e-3


def test_neighbour_features():
    obs = np.zeros((4, 8, 2))
    obs[:, -1] = [[0, 0], [3, 4], [1, 0], [9, 9]]
    obs[:, -2] = obs[:, -1] - [[1, 0], [0, 1], [0, 0], [1, 1]]
    feats, mask = neighbour_features(obs, np.array([0, 0, 0, 1]), k=3)
    assert feats.shape == (4, 3, 4) and mask.tolist() == [[True, True, False]] * 3 + \
        [[False] * 3]
    # pedestrian 0 sees 2 (1 m away) before 1 (5 m away): position and velocity differences
    np.testing.assert_allclose(feats[0, :2], [[1, 0, -1, 0], [3, 4, -1, 1]])
    np.testing.assert_allclose(feats[3], 0.0)
    with pytest.raises(ValueError, match=r"groups must have shape \(4,\)"):
        neighbour_features(obs, np.zeros(3, dtype=int))


def _torch_forward(model, rel, feats, mask):
    """The same forward in PyTorch, with the model's weights."""
    t = torch

    def weights(m):
        return {k: t.tensor(np.array(v.data if isinstance(v, dw.Tensor) else v))
                for k, v in m.state_dict().items()}

    def lin(m):
        layer = t.nn.Linear(m.in_features, m.out_features)
        layer.load_state_dict(weights(m))
        return layer

    embed, head = lin(model.embed), lin(model.head)
    enc = t.nn.LSTM(model.embed_size, model.hidden_size, batch_first=True)
    enc.load_state_dict(weights(model.encoder))
    dec = t.nn.LSTMCell(model.embed_size, model.hidden_size)
    dec.load_state_dict(weights(model.decoder))
    _, (h, c) = enc(t.relu(embed(rel)))
    h, c = h[0], c[0]
    seen = t.relu(lin(model.social_embed)(feats)) * mask[..., None]
    h = h + lin(model.social_out)(seen.amax(1))
    d, out = rel[:, -1], []
    for _ in range(model.pred_len):
        h, c = dec(t.relu(embed(d)), (h, c))
        d = d + head(h)
        out.append(d)
    return t.stack(out, 1)


def test_social_lstm_matches_pytorch():
    model = TrajectoryLSTM(embed_size=8, hidden_size=12, social=True, neighbours=3)
    for p in model.parameters():
        p.data[...] = np.random.default_rng(p.data.size).normal(0, 0.4, p.shape)
    obs = _curved(5, seed=4)[:, :8]
    feats, mask = neighbour_features(obs, np.array([0, 0, 0, 1, 1]), 3)
    rel, _, rot = model.normalise(obs)
    nb = model.local_neighbours(feats, mask, rot)
    x = dw.from_numpy(rel).requires_grad_(True)
    out = model(x, nb)
    assert out.shape == (5, 12, 2) and out.dtype == np.float32
    if torch is None:
        pytest.skip(SKIP_TORCH)
    xt = torch.tensor(rel, requires_grad=True)
    ref = _torch_forward(model, xt, torch.tensor(nb[0].data), torch.tensor(nb[1].data))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = np.random.default_rng(0).normal(size=out.shape).astype(np.float32)
    out.backward(dw.from_numpy(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_cvae_kl_and_most_likely():
    model = TrajectoryCVAE(embed_size=8, hidden_size=12, latent_size=4)
    obs = _curved(6, seed=5)
    rel, fut, _ = model.normalise(obs[:, :8], obs[:, 8:])
    pred, kl = model(dw.from_numpy(rel), dw.from_numpy(fut))
    assert pred.shape == (6, 12, 2) and kl.shape == (6,) and np.all(kl.data >= 0)
    np.testing.assert_allclose(model.predict(obs[:, :8]), model.predict(obs[:, :8]))
    for p in model.parameters():  # a decoder that listens to z
        p.data[...] = np.random.default_rng(p.data.size).normal(0, 0.4, p.shape)
    flat = model.sample(obs[:, :8], k=3, temperature=0.0)
    np.testing.assert_allclose(flat, np.broadcast_to(model.predict(obs[:, :8]), flat.shape),
                               atol=1e-6)
    spread = model.sample(obs[:, :8], k=3, groups=np.array([0, 0, 0, 1, 1, 1]))
    assert np.abs(spread[0] - spread[1]).max() > 1e-3
    with pytest.raises(ValueError, match=r"future positions of shape \(6, 12, 2\)"):
        model.normalise(obs[:, :8], obs[:, 8:18])


def test_lstm_learns_to_turn():
    """Walkers who turn at a steady rate: the trained LSTM follows the curve that constant
    velocity (the untrained model) overshoots: its ADE must fall below half of CV's."""
    train = _curved(1500, seed=10)
    test = _curved(300, seed=11)

    def windows(t):
        w = eth_ucy.Windows(t, np.arange(len(t)), np.zeros(len(t), np.int64),
                            np.arange(len(t)), np.zeros(len(t), np.int64), ["curves"], 8)
        return eth_ucy.TrajectoryWindows(w)

    model = TrajectoryLSTM(embed_size=16, hidden_size=32)
    hist = app.train_forecaster(model, windows(train), windows(test), epochs=6, lr=5e-3,
                                log=None)
    cv = tm.ade(constant_velocity(test[:, :8], 12), test[:, 8:])
    got = tm.ade(model.predict(test[:, :8]), test[:, 8:])
    assert got < 0.5 * cv, (got, cv, hist["val_ade"])
    assert hist["best_val_ade"] == pytest.approx(got, rel=1e-4)


def test_variety_loss_is_best_of_k_with_its_gradient():
    """The variety loss is best-of-K ADE per window (the metric itself, up to the 1e-6 inside
    the square root), its gradient checks by finite differences, and only each window's best
    draw receives one."""
    rng = np.random.default_rng(3)
    samples = rng.normal(0, 1, (3, 5, 4, 2))  # (K, B, T, 2) displacements
    true = rng.normal(0, 1, (5, 4, 2))
    groups, weight = np.array([7, 7, 2, 9, 9]), rng.uniform(0.5, 2.0, 5)
    got = app.variety_loss(dw.from_numpy(samples), dw.from_numpy(true), groups, weight)
    w = weight[None, :, None, None]  # metres per unit: the positions scale with it
    want = tm.best_of_k(np.cumsum(samples, 2) * w, np.cumsum(true, 1) * w[0], groups)[0]
    assert float(got.data) == pytest.approx(want, rel=1e-5)
    assert dw.autograd.gradcheck(lambda s: app.variety_loss(s, dw.from_numpy(true), groups, weight),
                                 [dw.from_numpy(samples).requires_grad_()])
    s = dw.from_numpy(samples).requires_grad_()
    app.variety_loss(s, dw.from_numpy(true), groups, weight).backward()
    err = tm.displacement_errors(np.cumsum(samples, 2), np.cumsum(true, 1)[None]).mean(-1)
    err = err * weight
    for members in ([0, 1], [2], [3, 4]):
        best = int(err[:, members].sum(1).argmin())
        reached = np.abs(s.grad.data[:, members]).sum(axis=(1, 2, 3)) > 0
        assert reached.tolist() == [k == best for k in range(3)], (members, best)


def test_window_batches_keep_windows_whole():
    rng = np.random.default_rng(0)
    groups = np.repeat(rng.permutation(40) * 3, rng.integers(1, 9, 40))
    batches = app.window_batches(groups, 16, np.random.default_rng(1))
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(groups.size))
    where = {}
    for i, b in enumerate(batches):
        for g in np.unique(groups[b]):
            assert where.setdefault(int(g), i) == i  # each window in one batch only
        if i < len(batches) - 1:
            assert 16 <= b.size < 16 + 8
    again = app.window_batches(groups, 16, np.random.default_rng(2))
    assert [b.tolist() for b in again] != [b.tolist() for b in batches]  # the order is random


def _forking(n: int, seed: int) -> np.ndarray:
    """Walkers who go straight for the 8 observed positions, then turn left or right at random
    (0.2 rad per step): two futures for one past. Positions ``(n, 20, 2)``, metres."""
    rng = np.random.default_rng(seed)
    turn = np.where(np.arange(20) >= 8, np.arange(20) - 7, 0)[None] * 0.2
    heading = rng.uniform(0, 2 * np.pi, (n, 1)) + rng.choice([-1.0, 1.0], (n, 1)) * turn
    steps = rng.uniform(0.3, 0.5, (n, 1, 1)) * np.stack([np.cos(heading), np.sin(heading)], -1)
    return np.cumsum(steps, 1)


def test_variety_loss_learns_both_futures():
    """The past does not tell which way the walker will turn: the deterministic LSTM can only
    go between the two futures, while a CVAE trained by the variety loss (alone) learns both,
    so its best of 20 must come under a tenth of the deterministic forecast's ADE (measured
    0.06-0.08 of it over three seeds; the plain CVAE at this budget 0.13-0.20)."""
    train, test = _forking(1200, seed=20), _forking(300, seed=21)

    def windows(t):
        n = len(t)
        w = eth_ucy.Windows(t, np.arange(n), np.zeros(n, np.int64), np.arange(n),
                            np.zeros(n, np.int64), ["forks"], 8)
        return eth_ucy.TrajectoryWindows(w)

    obs, fut = test[:, :8], test[:, 8:]
    dw.manual_seed(0)
    lstm = TrajectoryLSTM(embed_size=16, hidden_size=32)
    app.train_forecaster(lstm, windows(train), epochs=4, lr=5e-3, log=None)
    det = tm.ade(lstm.predict(obs), fut)
    dw.manual_seed(0)
    cvae = TrajectoryCVAE(embed_size=16, hidden_size=32, latent_size=4)
    with pytest.raises(ValueError, match="variety=4 needs a stochastic model"):
        app.train_forecaster(lstm, windows(train), epochs=1, variety=4, log=None)
    app.train_forecaster(cvae, windows(train), epochs=4, lr=5e-3, variety=8, cvae_weight=0.0,
                         log=None)
    best = tm.best_of_k(cvae.sample(obs, k=20, generator=np.random.default_rng(0)), fut)[0]
    assert best < 0.1 * det, (best, det)


# ---- checkpoints and commands ----------------------------------------------------------------

def _scene_file(path, n_peds=3, frames=26, seed=0):
    paths = _curved(n_peds, seed=seed, length=frames)
    rows = [f"{10 * t}\t{p + 1}\t{paths[p, t, 0]:.4f}\t{paths[p, t, 1]:.4f}\n"
            for t in range(frames) for p in range(n_peds)]
    path.write_text("".join(rows))
    return path


def _parser():
    p = argparse.ArgumentParser(prog="deepwise")
    sub = p.add_subparsers()
    app.add_commands(sub)
    return p


def test_checkpoint_round_trip(tmp_path):
    model = TrajectoryCVAE(embed_size=8, hidden_size=12, latent_size=4, social=True)
    for p in model.parameters():
        p.data[...] = np.random.default_rng(p.data.size).normal(0, 0.3, p.shape)
    path = tmp_path / "m.safetensors"
    save_model(path, model, config={"model": "trajectory-cvae", **model.config})
    loaded, _ = app.load_forecaster(path)
    assert isinstance(loaded, TrajectoryCVAE) and loaded.config == model.config
    obs, groups = _curved(4, seed=6)[:, :8], np.array([0, 0, 1, 1])
    np.testing.assert_allclose(loaded.predict(obs, groups), model.predict(obs, groups))
    other = tmp_path / "mlp.safetensors"
    mlp = models.build({"model": "mlp", "in_features": 4, "hidden": [3]})
    save_model(other, mlp, config={"model": "mlp", "in_features": 4, "hidden": [3]})
    with pytest.raises(ValueError, match="is a 'mlp' checkpoint.*deepwise train trajectory"):
        app.load_forecaster(other)


def test_train_and_forecast_commands(tmp_path, capsys):
    base = tmp_path / "eth-ucy"
    stems = [s for v in eth_ucy.SCENES.values() for s in v] + list(eth_ucy.TRAIN_ONLY)
    for i, stem in enumerate(stems):
        for folder, suffix in (("all_data", ""), ("train", "_train"), ("val", "_val")):
            (base / folder).mkdir(parents=True, exist_ok=True)
            _scene_file(base / folder / f"{stem}{suffix}.txt", seed=i)
    out = tmp_path / "run"
    args = _parser().parse_args(["train", "trajectory", "--test-scene", "zara01", "--data",
                                 str(base), "--epochs", "1", "--out", str(out),
                                 "--hidden-size", "16", "--embed-size", "8", "--seeds", "2"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "constant velocity" in text and "CVAE best-of-20" in text and "| LSTM |" in text
    assert "| LSTM, mean of 2 seeds |" in text
    assert (out / "lstm.safetensors").is_file() and (out / "cvae.safetensors").is_file()
    assert (out / "lstm-seed1.safetensors").is_file()
    # the ensemble row is the mean of the two seeds' forecasts, scored like any other
    fold = eth_ucy.load_fold("zara1", root=base)
    pair = [app.load_forecaster(out / f)[0] for f in ("lstm.safetensors",
                                                       "lstm-seed1.safetensors")]
    obs, groups = fold["test"].observed.astype(np.float64), fold["test"].windows.group
    mean = app.ensemble_predict(pair, obs, groups)
    np.testing.assert_allclose(mean, (pair[0].predict(obs, groups)
                                      + pair[1].predict(obs, groups)) / 2)
    res = app.evaluate_models(fold["test"], pair[0], ensemble=pair)
    assert res["LSTM, mean of 2 seeds"][0] == pytest.approx(
        tm.ade(mean, fold["test"].future.astype(np.float64)))
    assert not np.allclose(pair[0].predict(obs, groups), pair[1].predict(obs, groups))
    with pytest.raises(ValueError, match="no forecasters"):
        app.ensemble_predict([], obs)
    png = tmp_path / "f.png"
    scene = base / "all_data" / "crowds_zara01.txt"
    args = _parser().parse_args(["forecast", str(out / "cvae.safetensors"), "--scene",
                                 str(scene), "--out", str(png), "--samples", "5"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "constant velocity  ADE" in text and "best of 5" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a short file (12 frames): no scores, still a forecast of each pedestrian
    short = _scene_file(tmp_path / "short.txt", frames=12)
    args = _parser().parse_args(["forecast", str(out / "lstm.safetensors"), "--scene",
                                 str(short), "--out", str(tmp_path / "s.png")])
    assert args.func(args) == 0 and "no ADE/FDE; forecast 3 pedestrians" in \
        capsys.readouterr().out
    bad = tmp_path / "bad.txt"
    bad.write_text("0\t1\t0.5\t1.0\n10\t1\t0.5\n")
    args = _parser().parse_args(["forecast", str(out / "lstm.safetensors"), "--scene",
                                 str(bad), "--out", str(tmp_path / "b.png")])
    with pytest.raises(eth_ucy.TrajectoryFormatError, match="line 2"):
        args.func(args)
    args = _parser().parse_args(["train", "trajectory", "--test-scene", "hotel", "--data",
                                 str(base)])
    with pytest.raises(ValueError, match="HOTEL"):
        args.func(args)
    common = ["train", "trajectory", "--test-scene", "zara01", "--data", str(base), "--epochs",
              "1", "--hidden-size", "16", "--embed-size", "8", "--variety", "3"]
    args = _parser().parse_args(common + ["--model", "lstm", "--out", str(tmp_path / "v")])
    with pytest.raises(CommandError, match="--variety 3 trains the stochastic model"):
        args.func(args)
    args = _parser().parse_args(common + ["--model", "cvae", "--cvae-weight", "0", "--out",
                                          str(tmp_path / "v")])
    assert args.func(args) == 0 and "CVAE best-of-20" in capsys.readouterr().out
    saved = json.loads((tmp_path / "v" / "results.json").read_text())
    assert saved["args"]["variety"] == 3 and saved["history"]["cvae"]["kl"] == [0.0]


# ---- real data -------------------------------------------------------------------------------

@pytest.mark.slow
def test_univ_fold_lstm_beats_constant_velocity():
    """Leave-one-scene-out on UNIV (its 24,334 test windows): the social LSTM, trained for two
    epochs on the other scenes (~20 s), must beat constant velocity - the untrained model's
    forecast - by >= 0.5% ADE, and in FDE (measured: ADE 0.517 vs 0.524, FDE 1.140 vs 1.165;
    the recorded 12-epoch run in BENCHMARKS.md: 0.515 vs 0.524)."""
    fold = eth_ucy.load_fold("univ", root=shared_data("eth-ucy"))
    model = TrajectoryLSTM(social=True)
    app.train_forecaster(model, fold["train"], None, epochs=2, log=None)
    res = app.evaluate_models(fold["test"], lstm=model)
    cv, lstm = res["constant velocity"], res["LSTM"]
    assert lstm[0] < 0.995 * cv[0] and lstm[1] < cv[1], res


# ---- per-step features (the camera pipeline's detector features) ----------------------------

def test_feature_lstm_starts_as_the_plain_one_and_checks_shapes():
    dw.manual_seed(3)
    plain = TrajectoryLSTM(embed_size=8, hidden_size=12)
    dw.manual_seed(3)
    model = TrajectoryLSTM(embed_size=8, hidden_size=12, features=5)
    for (name, p), (_, q) in zip(plain.named_parameters(), model.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert model.config["features"] == 5 and "features" not in plain.config
    for p in model.parameters():  # a model that moves, so that the features could matter
        p.data[...] += np.random.default_rng(p.data.size).normal(0, 0.3, p.shape)
    model.feature_embed.weight.data[...] = 0.0
    model.feature_embed.bias.data[...] = 0.0
    obs = _curved(4, seed=7)[:, :8]
    feats = np.random.default_rng(0).normal(size=(4, 8, 5))
    base = model.predict(obs, features=feats)
    np.testing.assert_allclose(base, model.predict(obs, features=np.zeros_like(feats)))
    model.feature_embed.weight.data[...] = 0.5
    moved = model.predict(obs, features=feats)
    assert moved.shape == (4, 12, 2) and np.abs(moved - base).max() > 1e-3
    one = model.predict(obs[0], features=feats[0])  # a single track (obs_len, F)
    np.testing.assert_allclose(one[0], moved[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"reads 5 features.*\(B, 8, 5\)"):
        model.predict(obs)
    with pytest.raises(ValueError, match=r"expected features of shape \(4, 8, 5\), got "
                                         r"\(4, 7, 5\)"):
        model.predict(obs, features=feats[:, 1:])
    with pytest.raises(ValueError, match="features given to a model built without them"):
        plain.predict(obs, features=feats)
    with pytest.raises(ValueError, match="features must be >= 0"):
        TrajectoryLSTM(features=-1)


def test_feature_lstm_gradients_and_pytorch_parity(tmp_path):
    model = TrajectoryLSTM(embed_size=6, hidden_size=7, pred_len=3, features=4)
    for p in model.parameters():
        p.data[...] = np.random.default_rng(p.data.size).normal(0, 0.4, p.shape)
    obs = _curved(3, seed=8)[:, :8]
    rel, _, _ = model.normalise(obs)
    feats = np.random.default_rng(1).normal(size=(3, 8, 4))
    # float64 finite differences through the whole model, w.r.t. displacements and features
    model.double()
    dw.autograd.gradcheck(lambda r, f: model(r, features=f),
                          [dw.tensor(rel.astype(np.float64), requires_grad=True),
                           dw.tensor(feats, requires_grad=True)])
    model.float()
    path = tmp_path / "f.safetensors"
    save_model(path, model, config={"model": "trajectory-lstm", **model.config})
    loaded, _ = app.load_forecaster(path)
    assert loaded.features == 4
    np.testing.assert_allclose(loaded.predict(obs, features=feats),
                               model.predict(obs, features=feats))
    x = dw.from_numpy(rel).requires_grad_(True)
    f = dw.from_numpy(feats.astype(np.float32)).requires_grad_(True)
    out = model(x, features=f)
    assert out.shape == (3, 3, 2)
    if torch is None:
        pytest.skip(SKIP_TORCH)
    t = torch

    def lin(m):
        layer = t.nn.Linear(m.in_features, m.out_features)
        layer.load_state_dict({k: t.tensor(np.array(v.data)) for k, v in m.state_dict().items()})
        return layer

    def weights(m):
        return {k: t.tensor(np.array(v.data)) for k, v in m.state_dict().items()}

    enc = t.nn.LSTM(6, 7, batch_first=True)
    enc.load_state_dict(weights(model.encoder))
    dec = t.nn.LSTMCell(6, 7)
    dec.load_state_dict(weights(model.decoder))
    embed, head, fe = lin(model.embed), lin(model.head), lin(model.feature_embed)
    xt = t.tensor(rel, requires_grad=True)
    ft = t.tensor(feats.astype(np.float32), requires_grad=True)
    _, (h, c) = enc(t.relu(embed(xt) + fe(ft[:, 1:])))
    h, c, d, ref = h[0], c[0], xt[:, -1], []
    for _ in range(3):
        h, c = dec(t.relu(embed(d)), (h, c))
        d = d + head(h)
        ref.append(d)
    ref = t.stack(ref, 1)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = np.random.default_rng(2).normal(size=out.shape).astype(np.float32)
    out.backward(dw.from_numpy(g))
    ref.backward(t.tensor(g))
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f.grad.data, ft.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert np.abs(f.grad.data[:, 0]).max() == 0  # the first position ends no displacement
