""""Show me the code": the deepwise script that reproduces a playground run exactly.

:func:`script` writes, for a :class:`~deepwise.playground.config.Config` and a number of steps,
the plain deepwise program that the session ran: the same data (``datasets.make`` with the same
seed), the same network (``nn.Sequential`` built in the same order, so the same initial weights
after ``manual_seed``), the same optimizer, the same batch order (the DataLoader's own seeded
generator) and the same steps. Run as is, it prints the page's final losses (the test of the
playground checks it to 1e-6). The values in it are the checked numbers and option names of the
config, never text from the page.
"""

from __future__ import annotations

from .config import ACTIVATIONS, Config

__all__ = ["script", "model_lines", "optimizer_line", "loss_line"]


def model_lines(cfg: Config) -> list[str]:
    """The layers of the network, one line of Python per layer (input first)."""
    if cfg.digits:
        return cnn_lines(cfg)
    lines, width = [], len(cfg.features)
    act = ACTIVATIONS[cfg.activation]
    for h in cfg.hidden:
        line = f"nn.Linear({width}, {h}), nn.{act}(),"
        if cfg.dropout > 0:
            line += f" nn.Dropout({cfg.dropout!r}),"
        lines.append(line)
        width = h
    lines.append(f"nn.Linear({width}, 1),")
    return lines


def cnn_lines(cfg: Config) -> list[str]:
    """The digits' CNN: per conv layer Conv2d(3x3, padding 1) -> activation -> MaxPool2d(2)
    (8x8 -> 4x4 -> 2x2 -> 1x1), then a Linear layer to the 10 classes."""
    lines, channels, side = [], 1, 8
    act = ACTIVATIONS[cfg.activation]
    for c in cfg.hidden:
        line = f"nn.Conv2d({channels}, {c}, 3, padding=1), nn.{act}(),"
        if cfg.dropout > 0:
            line += f" nn.Dropout({cfg.dropout!r}),"
        lines.append(line + " nn.MaxPool2d(2),")
        channels, side = c, side // 2
    lines.append(f"nn.Flatten(), nn.Linear({channels * side * side}, 10),")
    return lines


def optimizer_line(cfg: Config) -> str:
    """The optimizer, as a Python expression of ``model``."""
    wd = f", weight_decay={cfg.l2!r}" if cfg.l2 > 0 else ""
    if cfg.optimizer == "adam":
        return f"optim.Adam(model.parameters(), lr={cfg.lr!r}{wd})"
    mom = ", momentum=0.9" if cfg.optimizer == "momentum" else ""
    return f"optim.SGD(model.parameters(), lr={cfg.lr!r}{mom}{wd})"


def loss_line(cfg: Config) -> str:
    """The loss of a batch, as a Python expression of ``out`` and ``target``."""
    if cfg.digits:
        return "F.cross_entropy(out, target)"
    if cfg.regression:
        return "F.mse_loss(out, target)"
    return "F.binary_cross_entropy_with_logits(out, target)"


POINTS_DATA = """FEATURES = {features!r}
x_train, y_train, x_test, y_test = datasets.make(
    {dataset!r}, n={n}, noise={noise!r}, train_ratio={ratio!r}, seed={seed})
X_train, Y_train = dw.tensor(datasets.features(x_train, FEATURES)), dw.tensor(y_train)
X_test, Y_test = dw.tensor(datasets.features(x_test, FEATURES)), dw.tensor(y_test)
"""

DIGITS_DATA = """train_set, test_set = Digits(train=True), Digits(train=False)  # in the package
X_train, Y_train = (dw.tensor(a) for a in train_set.__getitems__(np.arange(len(train_set))))
X_test, Y_test = (dw.tensor(a) for a in test_set.__getitems__(np.arange(len(test_set))))
"""


def script(cfg: Config, steps: int) -> str:
    """The script (text) that trains ``cfg``'s network for ``steps`` steps and prints its losses."""
    layers = "\n".join(f"    {line}" for line in model_lines(cfg))
    task = "regression (mean squared error)" if cfg.regression else \
        "classification (one logit, binary cross-entropy)"
    l1 = (f"\n        loss = loss + nn.utils.l1_penalty(model, weight={cfg.l1!r})  # L1"
          if cfg.l1 > 0 else "")
    threshold = "" if cfg.digits else ", threshold=0.0"
    acc = "" if cfg.regression else (
        f"\n    test_acc = accuracy(model(X_test), Y_test{threshold})"
        "\nprint(f\"test accuracy {test_acc:.4f}\")")
    acc_import = "" if cfg.regression else "from deepwise.train.metrics import accuracy\n"
    train = "train_set" if cfg.digits else "TensorDataset(X_train, Y_train)"
    if cfg.digits:
        task = "a small CNN on the 8x8 digits (cross-entropy over 10 classes)"
        data = DIGITS_DATA
        what = f"Conv channels {list(cfg.hidden)}"
        imports = ("from deepwise.data import DataLoader\n"
                   "from deepwise.data.datasets import Digits\n")
    else:
        data = POINTS_DATA.format(features=list(cfg.features), dataset=cfg.dataset,
                                  n=cfg.n_samples, noise=cfg.noise, ratio=cfg.train_ratio,
                                  seed=cfg.seed)
        what = f"Features {list(cfg.features)}, hidden layers {list(cfg.hidden)}"
        imports = ("from deepwise.data import DataLoader, TensorDataset\n"
                   "from deepwise.playground import datasets\n")
    return f'''"""The deepwise playground's run, as a script: {cfg.dataset}, {task}.

{what}, {cfg.activation}, {cfg.optimizer}
(lr {cfg.lr!r}), L1 {cfg.l1!r}, L2 {cfg.l2!r}, dropout {cfg.dropout!r}, batch {cfg.batch_size},
seed {cfg.seed}. The same seed and the same {steps} steps give the same loss as on the page.
"""

import numpy as np

import deepwise as dw
import deepwise.nn.functional as F
from deepwise import nn, optim
{imports}{acc_import}
{data}
dw.manual_seed({cfg.seed})  # the initial weights (and dropout's masks) come from this seed
model = nn.Sequential(
{layers}
)
opt = {optimizer_line(cfg)}
loader = DataLoader({train}, batch_size={cfg.batch_size}, shuffle=True,
                    generator=np.random.default_rng({cfg.seed}))  # the order of the batches


def loss_fn(out, target):
    return {loss_line(cfg)}


STEPS = {int(steps)}
step = 0
while step < STEPS:
    for xb, yb in loader:  # one epoch: every training point once, in a new random order
        if step == STEPS:
            break
        model.train()
        opt.zero_grad()
        loss = loss_fn(model(xb), yb){l1}
        loss.backward()  # the chain rule, through the recorded graph
        opt.step()
        step += 1

model.eval()
with dw.no_grad():
    train_loss = float(loss_fn(model(X_train), Y_train))
    test_loss = float(loss_fn(model(X_test), Y_test)){acc}
print(f"after {{STEPS}} steps: train loss {{train_loss:.9f}}, test loss {{test_loss:.9f}}")
'''
