"""GradientFlow, OverfittingMonitor, lr_find, layers and dead_units."""

import warnings

import numpy as np
import pytest

import deepwise as dw
from deepwise import data, explain, nn, optim, train
from deepwise.explain import GradientWarning, OverfittingWarning


def _mlp(act, depth=20, width=32, d_in=10, kaiming=False):
    layers, d = [], d_in
    for _ in range(depth - 1):
        fc = nn.Linear(d, width)
        if kaiming:
            nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")
            nn.init.zeros_(fc.bias)
        layers += [fc, act()]
        d = width
    layers.append(nn.Linear(d, 3))
    return nn.Sequential(*layers)


def _batches(n=64, d=10, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    return [(dw.tensor(x[i:i + 32]), dw.tensor(y[i:i + 32])) for i in range(0, n, 32)]


def _fit(model, callbacks, epochs=2, lr=0.1):
    return train.fit(model, _batches(), loss=nn.CrossEntropyLoss(),
                     optimizer=optim.SGD(model.parameters(), lr=lr), epochs=epochs,
                     callbacks=callbacks, verbose=False)


def test_vanishing_warning_fires_on_deep_sigmoid_mlp():
    model = _mlp(nn.Sigmoid)
    flow = explain.GradientFlow()
    with pytest.warns(GradientWarning, match="vanishing gradients") as rec:
        _fit(model, [flow])
    msg = str(rec[0].message)
    assert "first (0)" in msg and "last layer (38)" in msg  # names the layers
    assert "Kaiming" in msg and "ReLU" in msg
    g = flow.grad_norms
    assert g.shape == (2, 20) and flow.layer_names[0] == "0" and flow.layer_names[-1] == "38"
    assert g[0, 0] / g[0, -1] < 1e-3
    # collapsing layer by layer toward the input
    assert (np.diff(np.log10(g[0])) > 0).mean() > 0.9
    assert len(flow.messages) == 1  # warned once, not every epoch


def test_no_warning_on_relu_mlp_with_kaiming_init():
    model = _mlp(nn.ReLU, kaiming=True)
    flow = explain.GradientFlow(every=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientWarning)
        _fit(model, [flow], lr=0.01)
    assert flow.messages == []
    g = flow.grad_norms
    assert g.shape == (4, 20)  # every step
    assert (g[:, 0] / g[:, -1] > 1e-2).all()
    r = flow.update_ratios
    assert np.isfinite(r).all() and (r > 0).all() and (r < 0.1).all()
    # the update ratio is ||W_after - W_before|| / ||W||, measured around the step
    assert flow.steps == [0, 1, 2, 3] and flow.epochs == [0, 0, 1, 1]
    assert "update/|W|" in str(flow)


def test_exploding_gradient_warning_names_the_layer():
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
    with dw.no_grad():
        model[2].weight.data *= 1e5
    flow = explain.GradientFlow(exploding_norm=1e3)
    with pytest.warns(GradientWarning, match=r"exploding gradients .* of 0 is") as rec:
        _fit(model, [flow], epochs=1, lr=0.0)
    assert "clip_grad_norm_" in str(rec[0].message)


def test_gradient_flow_manual_use_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    flow = explain.GradientFlow(model=model)
    for _ in range(3):
        opt.zero_grad()
        model(dw.randn(16, 4)).pow(2).mean().backward()
        flow.before_step()
        opt.step()
        flow.after_step()
    w_norm = np.sqrt(sum(float((p.data ** 2).sum()) for p in model[0].parameters()))
    assert flow.weight_norms[-1, 0] == pytest.approx(w_norm, rel=1e-5)
    out = flow.plot(tmp_path / "flow.png")
    assert out is not None and (tmp_path / "flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_overfitting_monitor_warns_with_remedies():
    mon = explain.OverfittingMonitor(patience=3)
    mon.on_train_begin()
    losses = [(1.0, 1.1), (0.8, 0.9), (0.6, 0.85), (0.4, 0.9), (0.3, 1.0)]
    with pytest.warns(OverfittingWarning) as rec:
        for epoch, (tr, va) in enumerate(losses):
            mon.on_epoch_end(epoch, {"loss": tr, "val_loss": va})
    assert mon.warned_epochs == [4]
    msg = str(rec[0].message)
    for remedy in ("nn.Dropout(p=", "weight_decay=", "train.EarlyStopping(",
                   "restore_best_weights=True", "data.transforms", "nn.utils.l1_penalty"):
        assert remedy in msg
    np.testing.assert_allclose(mon.gaps, [0.1, 0.1, 0.25, 0.5, 0.7])


def test_overfitting_monitor_silent_when_gap_is_stable_and_on_accuracy():
    mon = explain.OverfittingMonitor(patience=2, monitor="accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OverfittingWarning)
        for epoch, (tr, va) in enumerate([(0.5, 0.5), (0.7, 0.68), (0.8, 0.79), (0.85, 0.84)]):
            mon.on_epoch_end(epoch, {"accuracy": tr, "val_accuracy": va})
    with pytest.warns(OverfittingWarning, match="val_accuracy"):
        for epoch, (tr, va) in enumerate([(0.9, 0.8), (0.95, 0.78), (0.99, 0.75)], start=4):
            mon.on_epoch_end(epoch, {"accuracy": tr, "val_accuracy": va})
    with pytest.raises(KeyError, match="val_data"):
        mon.on_epoch_end(9, {"accuracy": 0.9})


def test_overfitting_monitor_in_fit_on_memorised_noise():
    # random labels: the training loss falls, the validation loss rises - overfitting
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 20)).astype(np.float32)
    y = rng.integers(0, 2, 96)
    tr = [(dw.tensor(x[:64]), dw.tensor(y[:64]))]
    va = [(dw.tensor(x[64:]), dw.tensor(y[64:]))]
    model = nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.Linear(128, 2))
    mon = explain.OverfittingMonitor(patience=3, warn=False)
    h = train.fit(model, tr, val_data=va, loss=nn.CrossEntropyLoss(),
                  optimizer=optim.Adam(model.parameters(), lr=0.01), epochs=40,
                  callbacks=[mon], verbose=False)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    assert mon.warned_epochs and "Remedies" in mon.messages[0]


def test_lr_find_restores_state_and_suggests_a_sensible_rate(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = (x @ rng.standard_normal((8, 3))).argmax(1)
    loader = data.DataLoader(data.TensorDataset(dw.tensor(x), dw.tensor(y)), batch_size=32,
                             shuffle=True)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = optim.SGD(model.parameters(), lr=0.123, momentum=0.9)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.eval()
    res = explain.lr_find(model, loader, nn.CrossEntropyLoss(), opt, num_iter=60)
    lrs, losses, lr = res
    assert len(lrs) == len(losses) and 10 < len(lrs) <= 60
    assert np.all(np.diff(lrs) > 0) and lrs[0] == pytest.approx(1e-7)
    # Over 60 seeds (data, init and shuffle; this recipe) the suggestion fell in 0.24 .. 2.1
    # (median 0.44; the sweep's grid steps by 1.37x here). Accepted: 0.1 .. 4, a margin of about
    # 2x (two to three grid steps) on either side; 1e-3 or 10, a finder gone wrong, fails.
    assert 0.1 < lr < 4.0, lr
    # never past the bottom of the loss curve (where divergence begins): held on all 60 seeds
    assert lr <= lrs[int(np.argmin(losses))]
    # loss at the suggestion is below the loss at the smallest rates (by 0.068 .. 0.24 on 60 seeds)
    k = int(np.argmin(np.abs(lrs - lr)))
    assert losses[k] < losses[0] - 0.03
    for key, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[key])
    assert opt.param_groups[0]["lr"] == 0.123 and opt.state == {}
    assert model.training is False
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        explain.lr_find(model, loader, "cross_entropy", opt, start_lr=1.0, end_lr=0.1)


def test_lr_find_plot(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = dw.randn(32, 4), dw.randint(0, 2, (32,))
    model = nn.Linear(4, 2)
    res = explain.lr_find(model, (x, y), "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                          num_iter=20, plot=tmp_path / "lr.png")
    assert (tmp_path / "lr.png").stat().st_size > 1000 and len(res.lrs) >= 2


def test_layers_reports_activation_statistics():
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
    x = dw.randn(64, 4)
    rep = explain.layers(model, x)
    assert [r.name for r in rep.rows] == ["0", "1", "2", "3"]
    with dw.no_grad():
        h = model[0](x).data
    r0 = rep["0"]
    assert r0.type == "Linear" and r0.shape == (64, 16) and r0.params == 80
    assert r0.mean == pytest.approx(float(h.mean()), rel=1e-5)
    assert r0.std == pytest.approx(float(h.std()), rel=1e-5)
    relu = rep["1"]
    assert relu.frac_zero == pytest.approx(float((h <= 0).mean()), abs=1e-9)
    assert relu.min == 0.0
    assert rep["2"].frac_zero == relu.frac_zero  # eval mode: dropout is the identity
    assert model.training  # mode restored
    text = str(rep)
    assert "Activations per layer" in text and "zero" in text and "Linear" in text
    assert rep.summary.total_params == 114


def test_dead_units_counts_units_zero_for_the_whole_batch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 10)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(10, 6)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x))).relu()

    model = Net()
    with dw.no_grad():
        model.fc1.bias.data[:3] = -1e3  # 3 of 10 units can never fire
        model.fc2.weight.data[:2] = 0
        model.fc2.bias.data[:2] = -1.0  # 2 of 6 outputs are always 0
    rep = explain.dead_units(model, dw.randn(128, 4))
    assert [r.name for r in rep] == ["act", "model relu"]
    assert rep["act"].dead == 3 and rep["act"].units == 10
    assert rep["act"].frac_dead == pytest.approx(0.3)
    assert rep["model relu"].dead == 2 and rep["model relu"].frac_dead == pytest.approx(2 / 6)
    assert "Dead ReLU units" in str(rep)


def test_dead_units_on_conv_channels():
    conv = nn.Conv2d(1, 4, 3, padding=1)
    with dw.no_grad():
        conv.bias.data[0] = -1e3
    rep = explain.dead_units(nn.Sequential(conv, nn.ReLU()), dw.randn(8, 1, 6, 6))
    assert rep[0].units == 4 and rep[0].dead == 1
