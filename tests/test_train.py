"""fit / evaluate / History and the callbacks, on small synthetic problems (fast, seeded)."""

import csv
import io as pyio
import math
import os

import numpy as np
import pytest

import deepwise as dw
from deepwise import io, nn, optim
from deepwise.data import DataLoader, TensorDataset
from deepwise.optim import lr_scheduler
from deepwise.train import (
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LRScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
    evaluate,
    fit,
)

pytest.importorskip("safetensors")


def xor_data(n=400, seed=0):
    """Four Gaussian clusters in the XOR pattern: not linearly separable, easy for an MLP."""
    rng = np.random.default_rng(seed)
    centers = np.array([[-1, -1], [1, 1], [-1, 1], [1, -1]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    k = rng.integers(0, 4, size=n)
    x = centers[k] + 0.25 * rng.normal(size=(n, 2)).astype(np.float32)
    return x.astype(np.float32), labels[k].astype(np.int64)


def blobs(n=128, seed=0):
    """Two Gaussian blobs, linearly separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = (2.0 * y[:, None] - 1.0) * 1.5 + 0.6 * rng.normal(size=(n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def loader(x, y, batch_size=32, shuffle=True):
    return DataLoader(TensorDataset(dw.tensor(x), dw.tensor(y)), batch_size=batch_size,
                      shuffle=shuffle)


def mlp(hidden=16, dropout=0.0):
    layers = [nn.Linear(2, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(hidden, 2))


def params_of(model):
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def assert_same_params(a, b, exact=True):
    assert list(a) == list(b)
    for k in a:
        if exact:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7, err_msg=k)


# --------------------------------------------------------------------------------------------
# learning, history, evaluate


def test_fit_learns_xor_with_a_bound():
    x, y = xor_data(400, seed=0)
    xv, yv = xor_data(200, seed=1)
    model = mlp(16)
    opt = optim.Adam(model.parameters(), lr=0.03)
    before = evaluate(model, loader(xv, yv, 64, False), loss=nn.CrossEntropyLoss())
    h = fit(model, loader(x, y), val_data=loader(xv, yv, 64, False), loss=nn.CrossEntropyLoss(),
            optimizer=opt, epochs=25, verbose=False)
    assert before["accuracy"] < 0.8  # XOR is not solved by chance
    assert h.history["val_accuracy"][-1] >= 0.97
    assert h.history["accuracy"][-1] >= 0.95
    assert h.history["loss"][-1] < 0.25 * h.history["loss"][0]
    assert h.history["val_loss"][-1] < 0.1


def test_history_contents_and_step_lr():
    x, y = blobs(96)
    model = mlp(8)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    val = loader(x[:32], y[:32], 16, False)
    h = fit(model, loader(x, y, 32), val_data=val, loss=nn.CrossEntropyLoss(), optimizer=opt,
            epochs=5, scheduler=sched, verbose=False)
    assert isinstance(h, History)
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"]
    assert h.epoch == [0, 1, 2, 3, 4] and len(h) == 5
    assert all(len(v) == 5 for v in h.history.values())
    np.testing.assert_allclose(h.history["lr"], [0.1, 0.1, 0.05, 0.05, 0.025])
    assert sched.last_epoch == 5  # stepped once per epoch
    assert all(t > 0 for t in h.history["time"])
    assert all(0.0 <= a <= 1.0 for a in h.history["accuracy"] + h.history["val_accuracy"])
    # the last validation entry is the trained model's evaluation
    again = evaluate(model, val, loss=nn.CrossEntropyLoss())
    assert h["val_loss"][-1] == pytest.approx(again["loss"], rel=1e-6)
    assert h["val_accuracy"][-1] == again["accuracy"]


def test_evaluate_matches_a_full_batch_computation_and_restores_mode():
    x, y = blobs(50)
    model = mlp(8, dropout=0.5)
    model.train()
    res = evaluate(model, loader(x, y, 16, False), loss=nn.CrossEntropyLoss(),
                   metrics=["accuracy", "f1"])
    assert model.training  # mode restored
    model.eval()
    with dw.no_grad():
        logits = model(dw.tensor(x))
    ref_loss = float(nn.functional.cross_entropy(logits, dw.tensor(y)).data)
    pred = logits.data.argmax(1)
    assert res["loss"] == pytest.approx(ref_loss, rel=1e-5)  # batches 16,16,16,2 weighted
    assert res["accuracy"] == pytest.approx(np.mean(pred == y))
    assert set(res) == {"loss", "accuracy", "f1"}
    assert evaluate(model, (dw.tensor(x), dw.tensor(y))) == {"accuracy": res["accuracy"]}


def test_regression_loss_drops_default_accuracy_and_binary_accuracy_uses_threshold():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    t = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    model = nn.Linear(3, 1)
    h = fit(model, loader(x, t, 16), loss=nn.MSELoss(),
            optimizer=optim.SGD(model.parameters(), lr=0.1), epochs=20, verbose=False)
    assert list(h.history) == ["loss", "lr", "time"]
    assert h["loss"][-1] < 0.01 * h["loss"][0]
    # BCEWithLogits: "accuracy" thresholds the logits at 0
    yb = (x[:, :1] > 0).astype(np.float32)
    model = nn.Linear(3, 1)
    h = fit(model, loader(x, yb, 16), loss=nn.BCEWithLogitsLoss(),
            optimizer=optim.Adam(model.parameters(), lr=0.1), epochs=15, verbose=False)
    assert h["accuracy"][-1] >= 0.95


# --------------------------------------------------------------------------------------------
# EarlyStopping


def test_early_stopping_logic_on_a_planted_sequence():
    model = nn.Linear(2, 1)
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    es.model = model
    es.on_train_begin()
    val_losses = [1.0, 0.8, 0.9, 0.85, 0.95, 0.5]
    stopped_after = None
    for epoch, v in enumerate(val_losses):
        with dw.no_grad():
            model.weight.data.fill(epoch)  # mark the weights with the epoch
        es.on_epoch_end(epoch, {"val_loss": v})
        if es.stop_training:
            stopped_after = epoch
            break
    assert stopped_after == 3 and es.stopped_epoch == 3
    assert es.best == 0.8 and es.best_epoch == 1
    es.on_train_end()
    assert np.all(model.weight.data == 1.0)  # weights of the best epoch
    # min_delta: 0.8 -> 0.75 is not an improvement of more than 0.1
    es = EarlyStopping(patience=1, min_delta=0.1)
    es.on_train_begin()
    for epoch, v in enumerate([0.8, 0.75]):
        es.on_epoch_end(epoch, {"val_loss": v})
    assert es.stop_training and es.best == 0.8
    # auto mode: accuracy is maximised
    es = EarlyStopping(monitor="val_accuracy", patience=1)
    es.on_train_begin()
    for epoch, v in enumerate([0.5, 0.7, 0.9]):
        es.on_epoch_end(epoch, {"val_accuracy": v})
    assert not es.stop_training and es.best == 0.9
    with pytest.raises(KeyError, match="val_loss.*pass val_data"):
        EarlyStopping().on_epoch_end(0, {"loss": 1.0})


def test_early_stopping_in_fit_stops_when_val_loss_rises_and_restores_best():
    x, y = blobs(128)
    val = loader(x[:64], 1 - y[:64], 64, False)  # flipped labels: learning makes val loss rise
    model = mlp(8)
    snapshots = []
    es = EarlyStopping(patience=2, restore_best_weights=True)
    h = fit(model, loader(x, y, 32), val_data=val, loss=nn.CrossEntropyLoss(),
            optimizer=optim.Adam(model.parameters(), lr=0.01), epochs=30, verbose=False,
            callbacks=[es, LambdaCallback(on_epoch_end=lambda e, logs:
                                          snapshots.append(params_of(model)))])
    vl = h.history["val_loss"]
    assert np.all(np.diff(vl) > 0)  # the construction: validation loss rises every epoch
    assert len(h) == 3 and es.stopped_epoch == 2  # best at epoch 0, 2 epochs of patience
    assert es.best_epoch == 0 and es.best == vl[0]
    assert_same_params(params_of(model), snapshots[0])  # best weights restored
    assert not np.array_equal(snapshots[0]["0.weight"], snapshots[-1]["0.weight"])


# --------------------------------------------------------------------------------------------
# ModelCheckpoint, CSVLogger, TerminateOnNaN, ProgressBar


def test_model_checkpoint_every_epoch_and_best_only(tmp_path):
    x, y = blobs(96)
    val = loader(x[:48], 1 - y[:48], 48, False)  # val loss rises: epoch 0 is the best
    model = mlp(8)
    opt = optim.Adam(model.parameters(), lr=0.01)
    snapshots = []
    every = ModelCheckpoint(tmp_path / "ep{epoch:02d}-{val_loss:.4f}.safetensors")
    best = ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True)
    weights = ModelCheckpoint(tmp_path / "w{epoch}.safetensors", save_weights_only=True)
    h = fit(model, loader(x, y, 32), val_data=val, loss=nn.CrossEntropyLoss(), optimizer=opt,
            epochs=3, verbose=False,
            callbacks=[every, best, weights,
                       LambdaCallback(on_epoch_end=lambda e, logs:
                                      snapshots.append(params_of(model)))])
    names = [f"ep{e + 1:02d}-{v:.4f}.safetensors" for e, v in enumerate(h["val_loss"])]
    assert sorted(os.listdir(tmp_path)) == sorted(names + ["best.safetensors", "w1.safetensors",
                                                           "w2.safetensors", "w3.safetensors"])
    ck = io.load_checkpoint(tmp_path / names[1], restore_rng=False)
    assert ck["epoch"] == 2 and ck["logs"]["val_loss"] == h["val_loss"][1]
    assert ck["history"]["loss"] == h["loss"][:2]
    assert_same_params({k: v.data for k, v in ck["model"].items()}, snapshots[1])
    assert set(ck) >= {"model", "optimizer", "epoch", "history", "rng_state", "logs"}
    fresh = mlp(8)
    ck = io.load_checkpoint(tmp_path / "best.safetensors", fresh, restore_rng=False)
    assert ck["epoch"] == 1 and h["val_loss"][0] < h["val_loss"][2]
    assert_same_params(params_of(fresh), snapshots[0])
    flat = io.load(tmp_path / "w3.safetensors")
    assert_same_params({k: v.data for k, v in flat.items()}, snapshots[2])


def test_csv_logger_content(tmp_path):
    x, y = blobs(64)
    model = mlp(8)
    path = tmp_path / "log.csv"
    opt = optim.SGD(model.parameters(), lr=0.05)
    h = fit(model, loader(x, y), val_data=loader(x, y, 64, False), loss=nn.CrossEntropyLoss(),
            optimizer=opt, epochs=3, verbose=False, callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    for j, key in enumerate(rows[0][1:], start=1):
        assert [float(r[j]) for r in rows[1:]] == h[key]  # full precision
    # append=True continues the file (a resumed run)
    fit(model, loader(x, y), val_data=loader(x, y, 64, False), loss=nn.CrossEntropyLoss(),
        optimizer=opt, epochs=5, initial_epoch=3, verbose=False,
        callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2, 3, 4]
    assert os.listdir(tmp_path) == ["log.csv"]


def test_terminate_on_nan_stops_at_the_diverging_batch(capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype(np.float32) * 10
    t = rng.normal(size=(256, 1)).astype(np.float32)
    model = nn.Linear(3, 1)
    losses = []
    stop = TerminateOnNaN()
    with np.errstate(all="ignore"):
        h = fit(model, loader(x, t, 8, shuffle=False), loss=nn.MSELoss(),
                optimizer=optim.SGD(model.parameters(), lr=1e4), epochs=50, verbose=False,
                callbacks=[LambdaCallback(on_batch_end=lambda b, logs:
                                          losses.append(logs["loss"])), stop])
    assert len(h) == 1  # stopped in the first epoch, not after 50
    assert all(math.isfinite(v) for v in losses[:-1]) and not math.isfinite(losses[-1])
    assert 1 < len(losses) < 32  # stopped at the first non-finite batch, mid-epoch
    assert stop.stopped_at == (0, len(losses) - 1)
    assert "TerminateOnNaN" in capsys.readouterr().out


def test_progress_bar_plain_lines_and_tqdm(capsys):
    x, y = blobs(32)
    model = mlp(4)
    opt = optim.SGD(model.parameters(), lr=0.1)
    fit(model, loader(x, y, 16), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=2)
    out = capsys.readouterr().out.strip().splitlines()  # not a terminal: one line per epoch
    assert len(out) == 2
    assert out[0].startswith("Epoch 1/2 - loss: ") and " - accuracy: " in out[0]
    assert out[1].startswith("Epoch 2/2 - ") and out[1].endswith("s")
    pytest.importorskip("tqdm")
    buf = pyio.StringIO()
    fit(model, loader(x, y, 16), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1,
        verbose=False, callbacks=[ProgressBar(mode="bar", file=buf)])
    text = buf.getvalue()
    assert "Epoch 1/1" in text and "2/2" in text and "accuracy" in text


# --------------------------------------------------------------------------------------------
# LR schedulers: per step, per epoch, on a plateau


def test_one_cycle_steps_per_batch_and_plateau_on_the_monitored_metric():
    x, y = blobs(64)
    model = mlp(4)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=3, steps_per_epoch=4)
    lrs = []
    fit(model, loader(x, y, 16), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=3,
        scheduler=sched, verbose=False,
        callbacks=[LambdaCallback(on_batch_begin=lambda b, logs:
                                  lrs.append(opt.param_groups[0]["lr"]))])
    assert sched.last_epoch == 12  # 3 epochs x 4 batches
    assert len(set(np.round(lrs, 12))) == 12  # a new lr for every batch
    assert np.argmax(lrs) in (2, 3, 4)  # warm-up over the first 30%

    # ReduceLROnPlateau: a learning rate so small that nothing improves -> halved after patience
    model = mlp(4)
    opt = optim.SGD(model.parameters(), lr=1e-6)
    plateau = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, threshold=1e-3)
    h = fit(model, loader(x, y, 16), val_data=loader(x, y, 64, False),
            loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=6, scheduler=plateau,
            verbose=False)
    np.testing.assert_allclose(h["lr"], np.array([1, 1, 1, 0.5, 0.5, 0.25]) * 1e-6)
    with pytest.raises(KeyError, match="val_accuracy"):
        fit(model, loader(x, y, 16), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1,
            verbose=False, callbacks=[LRScheduler(plateau, monitor="val_accuracy")])
    with pytest.raises(ValueError, match="twice"):
        fit(model, loader(x, y, 16), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1,
            verbose=False, scheduler=plateau, callbacks=[LRScheduler(plateau)])


# --------------------------------------------------------------------------------------------
# resuming from a checkpoint continues exactly


def _run_setup():
    model = mlp(16, dropout=0.2)  # dropout and shuffling both draw from deepwise's generator
    opt = optim.Adam(model.parameters(), lr=0.02)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    return model, opt, sched


def test_resume_from_checkpoint_continues_exactly(tmp_path):
    x, y = xor_data(96, seed=2)
    xv, yv = xor_data(32, seed=3)
    kwargs = dict(loss=nn.CrossEntropyLoss(), epochs=4, verbose=False)

    dw.manual_seed(7)
    model, opt, sched = _run_setup()
    train, val = loader(x, y, 16), loader(xv, yv, 16, False)
    full = fit(model, train, val_data=val, optimizer=opt, scheduler=sched, **kwargs)
    uninterrupted = params_of(model)

    dw.manual_seed(7)
    model, opt, sched = _run_setup()
    path = tmp_path / "run.safetensors"
    first = fit(model, train, val_data=val, optimizer=opt, scheduler=sched,
                callbacks=[ModelCheckpoint(path)], **{**kwargs, "epochs": 2})
    assert first["loss"] == full["loss"][:2]

    dw.manual_seed(12345)  # a different process state: new init, other random draws
    model, opt, sched = _run_setup()
    ck = io.load_checkpoint(path, model, opt, scheduler=sched)
    assert ck["epoch"] == 2
    rest = fit(model, train, val_data=val, optimizer=opt, scheduler=sched,
               initial_epoch=ck["epoch"], callbacks=[History(ck["history"])], **kwargs)
    assert rest.epoch == [0, 1, 2, 3]  # the saved history, continued
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert rest[key] == full[key], key
    assert_same_params(params_of(model), uninterrupted, exact=True)


# --------------------------------------------------------------------------------------------
# errors


def test_fit_errors_are_clear():
    x, y = blobs(32)
    model = mlp(4)
    opt = optim.SGD(model.parameters(), lr=0.1)
    ce = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"pair \(x, y\), got a tuple of length 3"):
        fit(model, [(dw.tensor(x), dw.tensor(y), dw.tensor(y))], loss=ce, optimizer=opt,
            verbose=False)
    gen = ((dw.tensor(x[i:i + 8]), dw.tensor(y[i:i + 8])) for i in range(0, 32, 8))
    with pytest.raises(ValueError, match="generator is used up"):
        fit(model, gen, loss=ce, optimizer=opt, epochs=2, verbose=False)
    with pytest.raises(ValueError, match="scalar"):
        fit(model, loader(x, y), loss=nn.CrossEntropyLoss(reduction="none"), optimizer=opt,
            verbose=False)
    with pytest.raises(ValueError, match="unknown metric"):
        fit(model, loader(x, y), loss=ce, optimizer=opt, metrics=["auc"], verbose=False)
    # a pair of whole arrays is one batch; a loss may be named
    h = fit(model, (dw.tensor(x), dw.tensor(y)), loss="cross_entropy", optimizer=opt, epochs=2,
            verbose=False)
    assert len(h["loss"]) == 2
