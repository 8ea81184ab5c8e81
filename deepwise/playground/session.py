"""One browser session: a deepwise network, its data, and the thread that trains it.

A :class:`Session` builds from a :class:`~deepwise.playground.config.Config` the same things the
"show me the code" script builds (``nn.Sequential`` of ``nn.Linear`` and the activation layer,
an ``optim`` optimizer, a ``DataLoader`` with its own seeded generator) and trains it one batch
at a time - in its own thread while playing, or one step on request. What the page shows comes
from the library:

* the decision boundary and every neuron: the model run layer by layer on a grid of points;
* the losses and accuracy: the loss functions of ``nn.functional`` and ``train.metrics``;
* the overfitting verdict: ``explain.OverfittingMonitor``, fed the train and test loss each
  epoch; gradient-flow bars and the vanishing/exploding warning: ``explain.GradientFlow``;
  dead units: ``explain.dead_units``; the narrated backward pass for one point:
  ``explain.backprop``.

deepwise draws initial weights and dropout masks from its one global generator, and several
sessions train at the same time in one process. So each session keeps its own generator state
and swaps it in (under one process-wide lock) for the moments it draws: a session's run is the
run its script makes, whatever the other sessions do.
"""

from __future__ import annotations

import base64
import contextlib
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend, explain, nn, optim
from ..autograd import no_grad
from ..data import DataLoader, TensorDataset
from ..data.datasets import Digits
from ..nn import functional as F
from ..tensor import Tensor, tensor
from ..train.metrics import accuracy
from . import datasets
from .config import ACTIVATIONS, Config, ConfigError
from .script import script

__all__ = ["Session", "SessionLimits", "build_model", "build_optimizer", "GRID", "NEURON_GRID"]

GRID = 50  # the output's picture: GRID x GRID points over [-6, 6]^2
NEURON_GRID = 25  # each neuron's picture (every other grid point)
STRIP = 48  # digits: the test images the page offers to look at
HISTORY = 400  # at most this many points on the loss curves (older ones are thinned)
_RNG_LOCK = threading.Lock()  # deepwise's global generator is one for the whole process


@dataclass(frozen=True)
class SessionLimits:
    """Caps of one session's run (reset, or a new config, starts a new run): ``max_train_s``
    seconds of playing (wall clock), ``max_steps`` optimizer steps; ``tick_s`` is the training
    thread's period; ``gradflow_every`` the fewest steps between two gradient-flow
    measurements (at most 2000 are kept per run). With the config's ranges (at most 1000
    points, 6 layers of 8 neurons, 400 points on the loss curves) this bounds a session's
    memory too."""

    max_train_s: float = 600.0
    max_steps: int = 100_000
    tick_s: float = 0.05
    gradflow_every: int = 5


def build_model(cfg: Config) -> nn.Sequential:
    """The network of ``cfg`` (the same layers, in the same order, as the script's)."""
    if cfg.digits:
        return build_cnn(cfg)
    layers: list[nn.Module] = []
    width = len(cfg.features)
    for h in cfg.hidden:
        layers += [nn.Linear(width, h), getattr(nn, ACTIVATIONS[cfg.activation])()]
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def build_cnn(cfg: Config) -> nn.Sequential:
    """The digits' CNN: per entry of ``hidden`` a Conv2d(3x3, padding 1) -> activation ->
    [Dropout] -> MaxPool2d(2), then Flatten -> Linear to 10 class scores."""
    layers: list[nn.Module] = []
    channels, side = 1, 8
    for c in cfg.hidden:
        layers += [nn.Conv2d(channels, c, 3, padding=1), getattr(nn, ACTIVATIONS[cfg.activation])()]
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        layers.append(nn.MaxPool2d(2))
        channels, side = c, side // 2
    layers += [nn.Flatten(), nn.Linear(channels * side * side, 10)]
    return nn.Sequential(*layers)


def build_optimizer(cfg: Config, model: nn.Module) -> optim.Optimizer:
    """The optimizer of ``cfg``; L2 is the optimizer's weight decay (gradient + l2 * w)."""
    if cfg.optimizer == "adam":
        return optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.l2)
    return optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9 if cfg.optimizer == "momentum"
                     else 0.0, weight_decay=cfg.l2)


def _u8(a: np.ndarray) -> dict[str, Any]:
    """A picture for the page: values scaled by their largest magnitude to 0..255, base64."""
    a = np.nan_to_num(np.asarray(a, np.float64), nan=0.0, posinf=1e30, neginf=-1e30)
    scale = float(np.abs(a).max()) if a.size else 0.0
    q = np.full(a.shape, 128, np.uint8) if scale == 0 else \
        np.round((a / scale + 1.0) * 127.5).astype(np.uint8)  # 0 -> 128 (white)
    return {"scale": scale, "data": base64.b64encode(q.tobytes()).decode("ascii")}


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _clean(obj: Any) -> Any:
    """``obj`` with every NaN/Inf float replaced by None (JSON has no such numbers): a
    diverged run (learning rate too high) still gets its frames."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


class Session:
    """A network being trained for one page. Thread-safe: the page's requests, the stream and
    the training thread all go through ``self.lock``."""

    def __init__(self, config: Config, limits: SessionLimits | None = None) -> None:
        self.limits = limits or SessionLimits()
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified after every change
        self.version = 0
        self.playing = False
        self.closed = False
        self.last_seen = time.monotonic()
        self._build(config)
        self._thread = threading.Thread(target=self._run, name="playground-session",
                                        daemon=True)
        self._thread.start()

    # ---- building ----------------------------------------------------------------------------
    def _build(self, cfg: Config) -> None:
        self.config = cfg
        self.sample = 0  # digits: the test image whose feature maps are shown
        if cfg.digits:
            train_set, test_set = Digits(train=True), Digits(train=False)
            self.X_train, self.Y_train = (tensor(a) for a in train_set.__getitems__(
                np.arange(len(train_set))))
            self.X_test, self.Y_test = (tensor(a) for a in test_set.__getitems__(
                np.arange(len(test_set))))
            self.x_train, self.x_test = self.X_train.numpy(), self.X_test.numpy()
            dataset: Any = train_set
        else:
            self.x_train, self.y_train, self.x_test, self.y_test = datasets.make(
                cfg.dataset, cfg.n_samples, cfg.noise, cfg.train_ratio, cfg.seed)
            self.X_train = tensor(datasets.features(self.x_train, cfg.features))
            self.X_test = tensor(datasets.features(self.x_test, cfg.features))
            self.Y_train, self.Y_test = tensor(self.y_train), tensor(self.y_test)
            dataset = TensorDataset(self.X_train, self.Y_train)
        # deepwise.manual_seed(cfg.seed), for this session only: the state of a fresh generator
        self._rng_state = np.random.default_rng(cfg.seed).bit_generator.state
        with self._own_rng():
            self.model = build_model(cfg)
        self.optimizer = build_optimizer(cfg, self.model)
        self.loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                                 generator=np.random.default_rng(cfg.seed))
        self._batches: Iterator | None = None
        self._in_epoch = 0
        self.step = self.epoch = 0
        self.trained_s = 0.0
        self.note = ""
        self.last_batch_loss: float | None = None
        self.monitor = explain.OverfittingMonitor(patience=8, min_delta=1e-3, warn=False)
        # about ten measurements a second at most, so a run's record stays small
        every = max(self.limits.gradflow_every, cfg.speed // 10, self.limits.max_steps // 2000)
        self.flow = explain.GradientFlow(every=every, model=self.model, warn=False)
        self.history: dict[str, list] = {"step": [], "train": [], "test": []}
        # which build the cached measures belong to
        self._build_id = getattr(self, "_build_id", 0) + 1
        self._cache: dict[str, tuple] = {}
        self._evaluate(record=True)

    def _loss(self, out: Tensor, target: Tensor) -> Tensor:
        if self.config.digits:
            return F.cross_entropy(out, target)
        if self.config.regression:
            return F.mse_loss(out, target)
        return F.binary_cross_entropy_with_logits(out, target)

    @contextlib.contextmanager
    def _own_rng(self) -> Iterator[None]:
        """deepwise's generator holds this session's state while the block runs."""
        with _RNG_LOCK:
            gen = backend.default_generator()
            saved = gen.bit_generator.state
            gen.bit_generator.state = self._rng_state
            try:
                yield
            finally:
                self._rng_state = gen.bit_generator.state
                gen.bit_generator.state = saved

    # ---- training ----------------------------------------------------------------------------
    def _train_step(self) -> None:
        """One optimizer step on the next batch: the loop body of the script, line for line."""
        if self._batches is None:
            self._batches = iter(self.loader)
        try:
            xb, yb = next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            xb, yb = next(self._batches)
        model, opt = self.model, self.optimizer
        model.train()
        opt.zero_grad()
        loss = self._loss(model(xb), yb)
        if self.config.l1 > 0:
            loss = loss + nn.utils.l1_penalty(model, weight=self.config.l1)
        loss.backward()
        self.flow.on_batch_begin(self._in_epoch)  # keeps the weights before the step
        opt.step()
        self.flow.on_batch_end(self._in_epoch)  # measures when due
        self.last_batch_loss = float(loss.item())
        self.step += 1
        self._in_epoch += 1
        if self._in_epoch == len(self.loader):  # the epoch is over
            self._in_epoch = 0
            self.epoch += 1
            self.flow.on_epoch_begin(self.epoch)
            train_loss, test_loss = self._evaluate(record=True)
            self.monitor.on_epoch_end(self.epoch, {"loss": train_loss, "val_loss": test_loss})

    def train_steps(self, n: int) -> None:
        """``n`` optimizer steps now (the page's "step" button; the thread while playing)."""
        with self.lock:
            if self._capped():
                return
            with self._own_rng(), np.errstate(all="ignore"):  # divergence: the page says so
                for _ in range(min(n, self.limits.max_steps - self.step)):
                    self._train_step()
            self._changed()

    def _capped(self) -> bool:
        lim = self.limits
        if self.trained_s >= lim.max_train_s or self.step >= lim.max_steps:
            self.playing = False
            self.note = (f"training stopped: a run may play for {lim.max_train_s:g} s and "
                         f"{lim.max_steps} steps (press reset for a new run)")
            return True
        return False

    def _run(self) -> None:
        tick = self.limits.tick_s
        credit = 0.0
        while True:
            with self.lock:
                while not self.playing and not self.closed:
                    self.changed.wait(1.0)
                    credit = 0.0
                if self.closed:
                    return
                speed = self.config.speed
            t0 = time.monotonic()
            credit += speed * tick
            n = int(credit)
            credit -= n
            for k in range(0, n, 8):  # a few steps per turn, so the page's requests get in
                self.train_steps(min(8, n - k))
            time.sleep(max(0.0, tick - (time.monotonic() - t0)))
            with self.lock:
                if self.playing:
                    self.trained_s += time.monotonic() - t0

    # ---- measuring ---------------------------------------------------------------------------
    def _cached(self, name: str, compute: Any) -> Any:
        """``compute()``, remembered for this step of this run; while the digits' CNN plays
        (its measures take tens of ms), a value up to a second old is good enough for a frame."""
        key, now = (self._build_id, self.step), time.monotonic()
        c = self._cache.get(name)
        if c is not None and (c[0] == key or (self.playing and self.config.digits
                                              and c[0][0] == self._build_id and now - c[1] < 1.0)):
            return c[2]
        value = compute()
        self._cache[name] = (key, now, value)
        return value

    def _measure(self) -> dict[str, Any]:
        """Losses and accuracies on the whole train and test sets (two forward passes, eval
        mode): the script's last lines, and what the overfitting monitor is fed each epoch."""
        model, cfg = self.model, self.config
        was = model.training
        model.eval()
        try:
            with no_grad():
                out_tr, out_te = model(self.X_train), model(self.X_test)
                tr = float(self._loss(out_tr, self.Y_train).item())
                te = float(self._loss(out_te, self.Y_test).item())
        finally:
            model.train(was)
        thr = None if cfg.digits else 0.0
        return {"train_loss": tr, "test_loss": te,
                "train_acc": None if cfg.regression else accuracy(out_tr, self.Y_train, thr),
                "test_acc": None if cfg.regression else accuracy(out_te, self.Y_test, thr)}

    def _evaluate(self, record: bool = False) -> tuple[float, float]:
        """The losses now (measured afresh and cached for this step); ``record``: also a point
        on the loss curves."""
        vals = self._measure()
        self._cache["measure"] = ((self._build_id, self.step), time.monotonic(), vals)
        tr, te = vals["train_loss"], vals["test_loss"]
        if record:
            h = self.history
            h["step"].append(self.step)
            h["train"].append(_finite(tr))
            h["test"].append(_finite(te))
            if len(h["step"]) > HISTORY:  # thin the older half, keep the recent points
                cut = len(h["step"]) // 2
                for k in h:
                    h[k] = h[k][:cut:2] + h[k][cut:]
        return tr, te

    def _grid_points(self, n: int) -> np.ndarray:
        """(n*n, 2) points, row-major from the top-left corner (x1 left to right, x2 top down)."""
        r = datasets.RADIUS
        xs = np.linspace(-r, r, n, dtype=np.float32)
        gx, gy = np.meshgrid(xs, xs[::-1])
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def _pictures(self) -> dict[str, Any]:
        """The output over the grid and each hidden neuron's activation, in one forward pass
        run layer by layer (the activation layers' outputs are the neurons)."""
        cfg = self.config
        pts = self._grid_points(GRID)
        h = tensor(datasets.features(pts, cfg.features))
        neurons = []
        model = self.model
        was = model.training
        model.eval()
        try:
            with no_grad():
                for layer in model:
                    h = layer(h)
                    if type(layer).__name__ == ACTIVATIONS[cfg.activation]:
                        a = h.numpy().reshape(GRID, GRID, -1)[::2, ::2]
                        neurons.append([_u8(a[:, :, j]) for j in range(a.shape[2])])
        finally:
            model.train(was)
        out = h.numpy().reshape(GRID, GRID)
        # classification: the probability of class 1 shown as 2p - 1 in [-1, 1]
        shown = out.clip(-1, 1) if cfg.regression else np.tanh(out / 2)  # = 2 sigmoid - 1
        shown = np.nan_to_num(shown, nan=0.0)
        q = np.round((shown + 1.0) * 127.5).astype(np.uint8)
        return {"output": {"scale": 1.0, "data": base64.b64encode(q.tobytes()).decode("ascii")},
                "neurons": neurons}

    def _digit_pictures(self) -> dict[str, Any]:
        """The digits' CNN on one test image: the first conv layer's filters, every conv
        layer's feature maps (after the activation) and the class probabilities."""
        cfg, model = self.config, self.model
        act = ACTIVATIONS[cfg.activation]
        was = model.training
        model.eval()
        maps = []
        try:
            with no_grad():
                h = self.X_test[self.sample:self.sample + 1]
                for layer in model:
                    h = layer(h)
                    if type(layer).__name__ == act and h.ndim == 4:
                        a = h.numpy()[0]
                        maps.append({"side": int(a.shape[1]),
                                     "channels": [_u8(a[c]) for c in range(a.shape[0])]})
                probs = F.softmax(h, dim=1).numpy()[0]
        finally:
            model.train(was)
        convs = [m for m in model if isinstance(m, nn.Conv2d)]
        filters = [_u8(w[0]) for w in convs[0].weight.data] if convs else []
        return {"filters": filters, "maps": maps, "sample": self.sample,
                "label": int(self.Y_test.numpy()[self.sample]),
                "probs": np.round(probs.astype(np.float64), 4).tolist()}

    def _weights(self) -> list[dict[str, Any]]:
        if self.config.digits:
            return []
        return [{"weight": np.round(m.weight.data.astype(np.float64), 4).tolist(),
                 "bias": np.round(m.bias.data.astype(np.float64), 4).tolist()}
                for m in self.model if isinstance(m, nn.Linear)]

    def _gradflow(self) -> dict[str, Any]:
        f = self.flow
        messages = list(f.messages)
        n_hidden = len(self.config.hidden)
        kind = "conv" if self.config.digits else "hidden"
        names = [f"{kind} {k + 1}" for k in range(n_hidden)] + ["output"]
        if not f.steps:
            return {"layers": names, "grad_norm": [], "update_ratio": [], "step": None,
                    "messages": messages}
        g, r = f.grad_norms[-1], f.update_ratios[-1]
        return {"layers": names, "grad_norm": [_finite(v) for v in g],
                "update_ratio": [_finite(v) for v in r], "step": f.steps[-1],
                "messages": messages}

    def _dead(self) -> list[dict[str, Any]]:
        if self.config.activation != "relu" or not self.config.hidden:
            return []
        x = self.X_train[:256] if self.config.digits else self.X_train  # a batch is enough
        report = explain.dead_units(self.model, x)
        kind = "conv" if self.config.digits else "hidden"
        return [{"layer": f"{kind} {k + 1}", "units": r.units, "dead": r.dead}
                for k, r in enumerate(report)]

    def _overfitting(self) -> dict[str, Any]:
        m = self.monitor
        gap = m.gaps[-1] if m.gaps else None
        if m.warned_epochs:
            e = m.warned_epochs[-1]
            verdict = (f"overfitting since epoch {e}: the test loss moves away from the training "
                       "loss")
            state = "overfitting"
        elif len(m.gaps) < m.patience + 1:
            verdict, state = "watching (needs a few epochs)", "watching"
        else:
            verdict, state = ("no warning: the gap between test and training loss has not grown "
                              f"for {m.patience} epochs in a row"), "ok"
        return {"state": state, "verdict": verdict, "gap": _finite(gap) if gap is not None
                else None, "epochs": len(m.gaps), "messages": list(m.messages)}

    # ---- what the page asks for --------------------------------------------------------------
    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def _changed(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def info(self) -> dict[str, Any]:
        """What does not change while training: the config, the data points, the features'
        pictures and the network's shape."""
        with self.lock:
            cfg = self.config
            if cfg.digits:
                strip = np.round(self.x_test[:STRIP, 0] * 255).astype(np.uint8)
                return {"config": cfg.to_dict(), "kind": "digits", "regression": False,
                        "n_train": len(self.x_train), "n_test": len(self.x_test),
                        "strip": base64.b64encode(strip.tobytes()).decode("ascii"),
                        "strip_labels": self.Y_test.numpy()[:STRIP].tolist(),
                        "layers": [1, *cfg.hidden, 10]}
            pts = self._grid_points(GRID)
            feats = datasets.features(pts, cfg.features).reshape(GRID, GRID, -1)[::2, ::2]
            return {
                "config": cfg.to_dict(), "kind": "points", "regression": cfg.regression,
                "grid": GRID,
                "neuron_grid": NEURON_GRID, "radius": datasets.RADIUS,
                "train": np.round(np.hstack([self.x_train, self.y_train]).astype(np.float64),
                                  4).tolist(),
                "test": np.round(np.hstack([self.x_test, self.y_test]).astype(np.float64),
                                 4).tolist(),
                "features": [{"name": f, **_u8(feats[:, :, j])}
                             for j, f in enumerate(cfg.features)],
                "layers": [len(cfg.features), *cfg.hidden, 1],
            }

    def frame(self) -> dict[str, Any]:
        """The state now: step, losses, accuracy, pictures, weights, diagnostics."""
        with self.lock, np.errstate(all="ignore"):
            m = self._cached("measure", self._measure)
            note = self.note
            if not note and not (math.isfinite(m["train_loss"]) and math.isfinite(m["test_loss"])):
                note = ("the loss is no longer a finite number: training diverged (try a lower "
                        "learning rate, then reset)")
            return _clean({
                "version": self.version, "step": self.step, "epoch": self.epoch,
                "playing": self.playing, "note": note,
                "train_loss": _finite(m["train_loss"]), "test_loss": _finite(m["test_loss"]),
                "train_acc": m["train_acc"], "test_acc": m["test_acc"],
                "batch_loss": self.last_batch_loss, "history": self.history,
                **(self._digit_pictures() if self.config.digits else self._pictures()),
                "weights": self._weights(), "gradflow": self._gradflow(),
                "dead": self._cached("dead", self._dead), "overfitting": self._overfitting(),
            })

    def control(self, action: str) -> None:
        """``play``, ``pause``, ``step`` (one batch) or ``reset`` (new weights, same config)."""
        with self.lock:
            if action == "play":
                if not self._capped():
                    self.playing, self.note = True, ""
            elif action == "pause":
                self.playing = False
            elif action == "step":
                self.playing = False
                self.train_steps(1)
            elif action == "reset":
                self._build(self.config)
            else:
                raise ConfigError(f"control: unknown action {action!r}; expected play, pause, "
                                  "step or reset")
            self._changed()

    def configure(self, changes: dict[str, Any]) -> Config:
        """Apply a partial config. Changing only ``speed`` keeps the run; any other change
        builds a new network and data (as a new run of its script)."""
        with self.lock:
            cfg = self.config.replace(changes)
            if cfg != self.config:
                only_speed = {k for k, v in cfg.to_dict().items()
                              if v != self.config.to_dict()[k]} == {"speed"}
                if only_speed:
                    self.config = cfg
                else:
                    self._build(cfg)
            self._changed()
            return cfg

    def explain_point(self, index: int, split: str = "train") -> dict[str, Any]:
        """One backward pass for one data point, narrated by ``explain.backprop``: the loss of
        that point alone (no L1 term), the network in eval mode (no dropout). The training's
        gradients are not touched: they are cleared before the next step anyway."""
        with self.lock:
            if split not in ("train", "test"):
                raise ConfigError(f"explain: split must be 'train' or 'test', got {split!r}")
            xs, ys, pts = ((self.X_train, self.Y_train, self.x_train) if split == "train"
                           else (self.X_test, self.Y_test, self.x_test))
            if isinstance(index, bool) or not isinstance(index, int) or \
                    not 0 <= index < len(pts):
                raise ConfigError(f"explain: index must be an int from 0 to {len(pts) - 1} "
                                  f"(the {split} set), got {index!r}")
            model = self.model
            was = model.training
            model.eval()
            try:
                x, y = xs[index:index + 1], ys[index:index + 1]
                out = model(x)
                loss = self._loss(out, y)
                steps = explain.backprop(loss, params=model, max_numbers=8)
            finally:
                self.optimizer.zero_grad()
                model.train(was)

            def show(s: Any) -> str | None:  # an explain ArraySummary, or None
                return None if s is None else s.numbers()

            cfg = self.config
            if cfg.digits:
                if split == "test":
                    self.sample = index  # its feature maps are shown from now on
                    self._changed()
                point, target, output = None, float(ys.numpy()[index]), \
                    int(out.numpy().argmax())
            else:
                point, target = [float(v) for v in pts[index]], float(ys.numpy()[index, 0])
                output = float(out.item())
            return _clean({
                "point": point, "target": target, "output": output, "loss": float(loss.item()),
                "loss_name": "cross_entropy" if cfg.digits else "mse_loss" if cfg.regression
                else "binary_cross_entropy_with_logits",
                "steps": [{"label": s.label, "op": s.op, "derivative": s.derivative,
                           "inputs": s.inputs,
                           "input_shapes": [None if t is None else list(t)
                                            for t in s.input_shapes],
                           "output_shapes": [list(t) for t in s.output_shapes],
                           "grad_outputs": [show(g) for g in s.grad_outputs],
                           "grad_inputs": [show(g) for g in s.grad_inputs]} for s in steps],
                "leaves": [[name, g.numbers()] for name, g in steps.leaves],
                "text": str(steps),
            })

    def code(self) -> str:
        """The script that reproduces this run up to now (same seed, same steps)."""
        with self.lock:
            return script(self.config, self.step)

    def close(self) -> None:
        with self.lock:
            self.closed, self.playing = True, False
            self._changed()
