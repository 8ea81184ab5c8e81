"""Speech recognition of spoken digits (FSDD): one word per clip, and whole strings with CTC.

* ``deepwise train speech --task digits --model cnn|gru`` - isolated digits: a CNN on log-mel
  spectrograms or a BiGRU on MFCC frames (both masked by each clip's length), trained on the
  official training split with augmentation (time shift, noise at a random SNR, SpecAugment);
  it reports the test accuracy, per-speaker accuracy and writes the confusion matrix (PNG).
* ``deepwise train speech --task strings`` - connected digits: strings of 2-7 digits made by
  concatenating training clips of one speaker with random gaps and noise (fresh ones every
  epoch); a conv + BiGRU acoustic model trained with the CTC loss; test strings are made from
  test clips only. Digit error rate (edit distance / digits) and string accuracy, with greedy
  and prefix beam-search decoding.
* ``deepwise transcribe CHECKPOINT FILE.wav...`` - one line per file, ``path<TAB>digits``, all
  files in batched forward passes; ``--show PNG`` draws the spectrogram with the model's
  frame-wise CTC alignment.

What lives here is only what is specific to this application: the feature recipe, the string
synthesis, the training recipes, the checkpoint format and the commands. The features are
``deepwise.data.audio``, the reader ``deepwise.data.datasets.FSDD``, the models
``deepwise.models.speech``, the loss and decoders ``deepwise.ops.ctc``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend, models, optim
from ..autograd import no_grad
from ..data import audio
from ..data.datasets.fsdd import FSDD
from ..io import atomic_write, save_model
from ..nn import functional as F
from ..nn.utils import clip_grad_norm_
from ..ops.ctc import ctc_beam_search, ctc_greedy_decode, edit_distance
from ..tensor import Tensor
from ._commands import CommandError, register, train_parsers

__all__ = ["FEATURES", "features", "pad_batch", "make_strings", "split_validation",
           "train_digits", "predict_proba", "evaluate_digits", "train_strings",
           "evaluate_strings", "transcribe", "save_confusion_png", "add_commands"]

SAMPLE_RATE = 8000
MAX_SECONDS = 60.0  # transcribe refuses longer files (cut them): the model saw strings of <= 5 s
# the feature recipe, stored in each checkpoint (25 ms windows, 10 ms hop, 40 mel bands)
FEATURES: dict[str, Any] = {"sample_rate": SAMPLE_RATE, "n_fft": 256, "hop_length": 80,
                            "win_length": 200, "n_mels": 40, "n_mfcc": 20}
MODELS = {"cnn": ("speech-cnn", "logmel"), "gru": ("speech-gru", "mfcc"),
          "ctc": ("speech-ctc", "logmel")}


# --------------------------------------------------------------------------------------------
# features and batches


def features(x: np.ndarray, kind: str = "logmel", spec: dict | None = None) -> np.ndarray:
    """The normalised features ``(F, T)`` of one waveform: ``'logmel'`` (40 log-mel bands) or
    ``'mfcc'`` (20 MFCCs), each feature with mean 0 and unit variance over the utterance."""
    s = FEATURES if spec is None else spec
    kw = dict(n_fft=s["n_fft"], hop_length=s["hop_length"], win_length=s["win_length"])
    x = np.asarray(x, np.float32)
    if x.size < s["n_fft"] // 2 + 1:  # reflect-free padding: a clip shorter than half a window
        x = np.pad(x, (0, s["n_fft"] // 2 + 1 - x.size))
    if kind == "logmel":
        f = audio.log_mel_spectrogram(x, s["sample_rate"], n_mels=s["n_mels"], **kw)
    elif kind == "mfcc":
        f = audio.mfcc(x, s["sample_rate"], n_mfcc=s["n_mfcc"], n_mels=s["n_mels"], **kw)
    else:
        raise ValueError(f"features: kind must be 'logmel' or 'mfcc', got {kind!r}")
    return audio.normalize(f.astype(np.float32))


def pad_batch(feats: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(N, T_max, F)`` zero-padded (0 is the normalised mean) and the lengths ``(N,)``."""
    lens = np.array([f.shape[1] for f in feats], np.int64)
    out = np.zeros((len(feats), int(lens.max()), feats[0].shape[0]), np.float32)
    for i, f in enumerate(feats):
        out[i, :f.shape[1]] = f.T
    return out, lens


def _batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None
             ) -> list[np.ndarray]:
    """Index batches of similar lengths (little padding): sorted by length (with a random
    jitter when shuffling), cut into batches, the batches shuffled."""
    key = lengths + (rng.uniform(0, 4, len(lengths)) if rng is not None else 0)
    order = np.argsort(key, kind="stable")
    out = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(out)
    return out


def _augment(x: np.ndarray, rng: np.random.Generator, speed: float = 0.0) -> np.ndarray:
    """Training-time waveform augmentation: with ``speed > 0`` a random speed change by a
    factor of ``1 - speed .. 1 + speed`` in steps of 0.05 (resampling: tempo and pitch change
    together, as a faster or slower, higher or lower voice), a random shift (<= 50 ms), white
    noise at a random SNR of 15-40 dB, a random gain of -6..+6 dB."""
    if speed > 0:
        steps = int(round(speed / 0.05))
        k = int(rng.integers(-steps, steps + 1))
        if k:  # factor (20 + k) / 20: n samples become 20 n / (20 + k), played at 8 kHz
            x = audio.resample(x, 20 + k, 20)  # the rates' ratio only: a short filter
    x = audio.time_shift(x, SAMPLE_RATE // 20, rng)
    x = audio.add_noise(x, float(rng.uniform(15, 40)), rng)
    return (x * 10 ** (rng.uniform(-6, 6) / 20)).astype(np.float32)


def _model_input(model_name: str, x: np.ndarray) -> Tensor:
    """(N, T, F) padded features in the model's layout: the CNN takes (N, 1, F, T)."""
    if model_name == "speech-cnn":
        return Tensor(np.ascontiguousarray(x.transpose(0, 2, 1)[:, None]))
    return Tensor(x)


# --------------------------------------------------------------------------------------------
# isolated digits


def _log(verbose: bool, msg: str) -> None:
    if verbose:
        print(msg, flush=True)


def split_validation(ds: FSDD, indices: Sequence[int] = tuple(range(5, 15))
                     ) -> tuple[FSDD, FSDD]:
    """``(rest, validation)``: the recordings of ``ds`` whose repetition index is in
    ``indices`` (default 5-14: 10 per speaker and digit, taken from the official training
    split) held out, so that every choice of setting or epoch is made without the test split."""
    held = np.isin(ds.indices, np.asarray(indices))
    if held.all() or not held.any():
        raise ValueError(f"split_validation: indices {list(indices)} hold out {int(held.sum())} "
                         f"of {held.size} recordings; both parts must be non-empty")
    parts = []
    for keep in (~held, held):
        sub = copy.copy(ds)
        idx = np.flatnonzero(keep)
        sub.waveforms = [ds.waveforms[i] for i in idx]
        sub.speakers = [ds.speakers[i] for i in idx]
        sub.files = [ds.files[i] for i in idx]
        sub.targets, sub.indices = ds.targets[idx], ds.indices[idx]
        parts.append(sub)
    return parts[0], parts[1]


class _EMA:
    """An exponential moving average of a model's parameters and buffers,
    ``avg <- decay avg + (1 - decay) w`` after each step (warmed up: the decay is
    ``min(decay, (1 + k) / (10 + k))`` at step ``k``); ``swap()`` exchanges the averages with
    the live weights (call it twice to undo)."""

    def __init__(self, model: Any, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"train_digits: ema must be a decay in (0, 1), got {decay}")
        self.decay, self.k = decay, 0
        self.tensors = list(model.parameters()) + [
            b for b in model.buffers() if np.issubdtype(b.data.dtype, np.floating)]
        self.avg = [t.data.copy() for t in self.tensors]

    def update(self) -> None:
        d = min(self.decay, (1 + self.k) / (10 + self.k))
        self.k += 1
        for a, t in zip(self.avg, self.tensors):
            a *= d
            a += (1 - d) * t.data

    def swap(self) -> None:
        for a, t in zip(self.avg, self.tensors):
            live = t.data.copy()
            t.data[...] = a
            a[...] = live


def train_digits(train: FSDD, model_kind: str = "cnn", epochs: int = 12, batch_size: int = 32,
                 lr: float = 2e-3, seed: int = 0, augment: bool = True,
                 test: FSDD | None = None, verbose: bool = True,
                 max_minutes: float | None = None, label_smoothing: float = 0.0,
                 mixup: float = 0.0, ema: float = 0.0, speed: float = 0.0,
                 model_config: dict | None = None) -> tuple[Any, dict]:
    """Train a digit classifier (``'cnn'`` on log-mel or ``'gru'`` on MFCC) on ``train`` with
    Adam and a cosine learning rate; returns ``(model, history)``. ``test`` (a validation
    split, see :func:`split_validation`), if given, is evaluated after every epoch (for the
    log only: the recipe has no early stopping).

    ``label_smoothing``: of the cross-entropy; ``mixup``: alpha of the Beta(alpha, alpha)
    weight that mixes each clip's features and targets with another clip of its batch (0: off);
    ``ema``: the decay of an exponential moving average of the weights, which the returned
    model holds (0: off); ``speed``: the range of the random speed change of each clip (see
    ``_augment``; 0: off); ``model_config``: overrides of the model's defaults (e.g.
    ``{"channels": [48, 96, 192]}``)."""
    if model_kind not in ("cnn", "gru"):
        raise ValueError(f"train_digits: model must be 'cnn' or 'gru', got {model_kind!r}")
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    name, kind = MODELS[model_kind]
    config = ({"model": name, "n_mels": FEATURES["n_mels"]} if model_kind == "cnn" else
              {"model": name, "n_features": FEATURES["n_mfcc"]})
    model = models.build({**config, **(model_config or {})})
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    averager = _EMA(model, ema) if ema else None
    clean = [features(x, kind) for x in train.waveforms]
    lengths = np.array([f.shape[1] for f in clean])
    history: dict[str, list] = {"loss": [], "train_accuracy": [], "test_accuracy": [],
                                "seconds": []}
    start = time.perf_counter()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        total, hits, n = 0.0, 0, 0
        for idx in _batches(lengths, batch_size, rng):
            if augment:
                fs = [audio.spec_augment(features(_augment(train.waveforms[i], rng, speed),
                                                  kind),
                                         freq_masks=1, freq_width=5, time_masks=1,
                                         time_width=max(1, int(lengths[i]) // 8), value=0.0,
                                         rng=rng) for i in idx]
            else:
                fs = [clean[i] for i in idx]
            xb, lb = pad_batch(fs)
            y = train.targets[idx]
            target: Any = Tensor(y)
            if mixup:
                lam = float(rng.beta(mixup, mixup))
                perm = rng.permutation(len(idx))
                xb = lam * xb + (1 - lam) * xb[perm]
                lb = np.maximum(lb, lb[perm])
                onehot = np.eye(10, dtype=np.float32)[y]
                target = Tensor(lam * onehot + (1 - lam) * onehot[perm])
            out = model(_model_input(name, xb), lb)
            loss = F.cross_entropy(out, target, label_smoothing=label_smoothing)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            if averager is not None:
                averager.update()
            total += loss.item() * len(idx)
            hits += int((out.data.argmax(1) == y).sum())
            n += len(idx)
        sched.step()
        history["loss"].append(total / n)
        history["train_accuracy"].append(hits / n)
        history["seconds"].append(time.perf_counter() - t0)
        msg = f"epoch {epoch + 1}/{epochs}: loss {total / n:.4f}, train acc {hits / n:.4f}"
        if test is not None:
            if averager is not None:
                averager.swap()
            acc = evaluate_digits(model, test, name)["accuracy"]
            if averager is not None:
                averager.swap()
            history["test_accuracy"].append(acc)
            msg += f", held-out acc {acc:.4f}"
        _log(verbose, msg + f" ({history['seconds'][-1]:.1f} s)")
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            _log(verbose, f"stopping: the {max_minutes:g}-minute budget is spent")
            break
    history["train_seconds"] = time.perf_counter() - start
    if averager is not None:
        averager.swap()
    model.eval()
    return model, history


def _predict_proba(model: Any, name: str, feats: list[np.ndarray], batch_size: int = 64
                   ) -> np.ndarray:
    """``(N, 10)`` softmax probabilities of a digit classifier, in batches of similar length."""
    model.eval()
    lengths = np.array([f.shape[1] for f in feats])
    prob = np.empty((len(feats), 10), np.float64)
    with no_grad():
        for idx in _batches(lengths, batch_size, None):
            xb, lb = pad_batch([feats[i] for i in idx])
            logits = model(_model_input(name, xb), lb).data.astype(np.float64)
            e = np.exp(logits - logits.max(1, keepdims=True))
            prob[idx] = e / e.sum(1, keepdims=True)
    return prob


def _predict_digits(model: Any, name: str, feats: list[np.ndarray], batch_size: int = 64
                    ) -> np.ndarray:
    return _predict_proba(model, name, feats, batch_size).argmax(1)


def predict_proba(model: Any | Sequence[Any], ds: FSDD) -> np.ndarray:
    """``(N, 10)`` digit probabilities of ``ds``'s clips; for a list of models (an ensemble,
    e.g. a CNN and a GRU) the mean of their softmax outputs."""
    group = list(model) if isinstance(model, (list, tuple)) else [model]
    out = []
    for m in group:
        name = model_name(m)
        kind = "logmel" if name == "speech-cnn" else "mfcc"
        out.append(_predict_proba(m, name, [features(x, kind) for x in ds.waveforms]))
    return np.mean(out, axis=0)


def evaluate_digits(model: Any | Sequence[Any], test: FSDD, name: str | None = None
                    ) -> dict[str, Any]:
    """Accuracy, per-speaker accuracy, the confusion matrix (rows: true digit) and the
    misclassified files of a digit classifier (or a list of them, an ensemble averaging their
    softmax outputs) on ``test``."""
    if name is not None and not isinstance(model, (list, tuple)):
        kind = "logmel" if name == "speech-cnn" else "mfcc"
        pred = _predict_digits(model, name, [features(x, kind) for x in test.waveforms])
    else:
        pred = predict_proba(model, test).argmax(1)
    y = test.targets
    cm = np.bincount(y * 10 + pred, minlength=100).reshape(10, 10)
    spk = np.array(test.speakers)
    return {"accuracy": float((pred == y).mean()), "n": int(len(y)),
            "per_speaker": {s: float((pred[spk == s] == y[spk == s]).mean())
                            for s in sorted(set(test.speakers))},
            "confusion": cm.tolist(),
            "errors": [f"{test.files[i]} -> {int(pred[i])}" for i in np.flatnonzero(pred != y)]}


def model_name(model: Any) -> str:
    """The registered name of a speech model instance."""
    for name in ("speech-cnn", "speech-gru", "speech-ctc"):
        if isinstance(model, models._REGISTRY[name]):
            return name
    raise ValueError(f"not a speech model: {type(model).__name__}")


def save_confusion_png(cm: Any, path: str, title: str = "") -> None:
    """The confusion matrix as a PNG (rows: true digit, columns: predicted), counts written in
    each cell; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_path

    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if v > cm.max() / 2 else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="spoken digit",
           title=title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# connected digit strings


def make_strings(waveforms: Sequence[np.ndarray], digits: Sequence[int], speakers: Sequence[str],
                 n: int, rng: np.random.Generator, min_digits: int = 2, max_digits: int = 7,
                 gap: tuple[float, float] = (0.05, 0.4), snr_db: tuple[float, float] = (15, 40)
                 ) -> list[tuple[np.ndarray, list[int]]]:
    """``n`` connected digit strings: for each, a speaker, 2-7 of that speaker's clips (random
    digits), joined with random silent gaps (``gap`` seconds, also before and after), then white
    noise at a random SNR (``snr_db``) over the whole string. Returns ``(waveform, digits)``."""
    spk = np.asarray(speakers)
    by_speaker = {s: np.flatnonzero(spk == s) for s in sorted(set(speakers))}
    names = list(by_speaker)
    out = []
    for _ in range(n):
        pool = by_speaker[names[int(rng.integers(len(names)))]]
        k = int(rng.integers(min_digits, max_digits + 1))
        picks = rng.choice(pool, size=k)
        parts = []
        for i in picks:
            parts.append(np.zeros(int(rng.uniform(*gap) * SAMPLE_RATE), np.float32))
            parts.append(waveforms[i])
        parts.append(np.zeros(int(rng.uniform(*gap) * SAMPLE_RATE), np.float32))
        x = audio.add_noise(np.concatenate(parts), float(rng.uniform(*snr_db)), rng)
        out.append((x, [int(digits[i]) for i in picks]))
    return out


def _ctc_targets(labels: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Padded CTC targets: digit d has label id d + 1 (0 is the blank)."""
    lens = np.array([len(s) for s in labels], np.int64)
    tg = np.zeros((len(labels), max(int(lens.max()), 1)), np.int64)
    for i, s in enumerate(labels):
        tg[i, :len(s)] = np.asarray(s) + 1
    return tg, lens


def train_strings(train: FSDD, epochs: int = 12, strings_per_epoch: int = 1500,
                  batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                  test_strings: list | None = None, verbose: bool = True,
                  max_minutes: float | None = None, hidden_size: int = 128,
                  num_layers: int = 2, channels: int = 128, max_digits: int = 7,
                  subsample: int = 2) -> tuple[Any, dict]:
    """Train the conv + BiGRU CTC model on fresh synthetic strings of training clips every
    epoch (Adam, cosine learning rate, gradient clipping); returns ``(model, history)``."""
    backend.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = models.build({"model": "speech-ctc", "n_features": FEATURES["n_mels"],
                          "hidden_size": hidden_size, "num_layers": num_layers,
                          "channels": channels, "subsample": subsample})
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    history: dict[str, list] = {"loss": [], "test_der": [], "seconds": []}
    start = time.perf_counter()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        data = make_strings(train.waveforms, train.targets, train.speakers, strings_per_epoch,
                            rng, max_digits=max_digits)
        feats = [audio.spec_augment(features(x), freq_masks=1, freq_width=5, time_masks=2,
                                    time_width=10, value=0.0, rng=rng) for x, _ in data]
        lengths = np.array([f.shape[1] for f in feats])
        total, n = 0.0, 0
        for idx in _batches(lengths, batch_size, rng):
            xb, lb = pad_batch([feats[i] for i in idx])
            tg, tl = _ctc_targets([data[i][1] for i in idx])
            lp, ol = model(Tensor(xb), lb)
            loss = F.ctc_loss(lp, tg, ol, tl, zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += loss.item() * len(idx)
            n += len(idx)
        sched.step()
        history["loss"].append(total / n)
        history["seconds"].append(time.perf_counter() - t0)
        msg = f"epoch {epoch + 1}/{epochs}: CTC loss {total / n:.4f}"
        if test_strings is not None:
            der = evaluate_strings(model, test_strings, beam_width=0)["der_greedy"]
            history["test_der"].append(der)
            msg += f", test digit error rate {der:.4f} (greedy)"
        _log(verbose, msg + f" ({history['seconds'][-1]:.1f} s)")
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            _log(verbose, f"stopping: the {max_minutes:g}-minute budget is spent")
            break
    history["train_seconds"] = time.perf_counter() - start
    model.eval()
    return model, history


def _ctc_log_probs(model: Any, feats: list[np.ndarray], batch_size: int = 32
                   ) -> list[np.ndarray]:
    """Each utterance's (T', C) log-probabilities, in batched forward passes."""
    model.eval()
    lengths = np.array([f.shape[1] for f in feats])
    out: list[Any] = [None] * len(feats)
    with no_grad():
        for idx in _batches(lengths, batch_size, None):
            xb, lb = pad_batch([feats[i] for i in idx])
            lp, ol = model(Tensor(xb), lb)
            for j, i in enumerate(idx):
                out[i] = lp.data[:ol[j], j]
    return out


def evaluate_strings(model: Any, strings: list[tuple[np.ndarray, list[int]]],
                     beam_width: int = 8) -> dict[str, Any]:
    """Digit error rate (total edit distance / total digits) and string accuracy, with greedy
    decoding and (``beam_width > 0``) prefix beam search."""
    lps = _ctc_log_probs(model, [features(x) for x, _ in strings])
    truth = [s for _, s in strings]
    n_digits = sum(len(s) for s in truth)
    res: dict[str, Any] = {"strings": len(strings), "digits": n_digits}
    decoders: dict[str, Callable] = {"greedy": lambda lp: ctc_greedy_decode(lp)[0]}
    if beam_width:
        decoders["beam"] = lambda lp: ctc_beam_search(lp, beam_width)[0]
    for key, dec in decoders.items():
        hyp = [[k - 1 for k in dec(lp)] for lp in lps]
        errs = [edit_distance(h, t) for h, t in zip(hyp, truth)]
        res[f"der_{key}"] = sum(errs) / n_digits
        res[f"string_accuracy_{key}"] = float(np.mean([e == 0 for e in errs]))
    return res


# --------------------------------------------------------------------------------------------
# transcription


def _load_for_transcription(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"transcribe: no such file '{path}'")
    return audio.load_wav(path, SAMPLE_RATE, max_seconds=MAX_SECONDS)


def transcribe(model: Any, waveforms: Sequence[np.ndarray], beam_width: int = 0
               ) -> tuple[list[str], list[np.ndarray | None]]:
    """The digits heard in each waveform (a string such as ``'4021'``; ``''`` for silence), and
    for a CTC model each waveform's (T', 11) log-probabilities (None for silence and for a
    one-digit classifier)."""
    name = model_name(model)
    silent = [audio.is_silent(x) for x in waveforms]
    keep = [i for i, s in enumerate(silent) if not s]
    texts = [""] * len(waveforms)
    lps: list[np.ndarray | None] = [None] * len(waveforms)
    if not keep:
        return texts, lps
    if name == "speech-ctc":
        got = _ctc_log_probs(model, [features(waveforms[i]) for i in keep])
        for i, lp in zip(keep, got):
            labels = ctc_beam_search(lp, beam_width)[0] if beam_width else \
                ctc_greedy_decode(lp)[0]
            texts[i] = "".join(str(k - 1) for k in labels)
            lps[i] = lp
    else:
        kind = "logmel" if name == "speech-cnn" else "mfcc"
        pred = _predict_digits(model, name, [features(waveforms[i], kind) for i in keep])
        for i, p in zip(keep, pred):
            texts[i] = str(int(p))
    return texts, lps


def save_alignment_png(path: str, items: list[tuple[str, np.ndarray, np.ndarray | None, str]]
                       ) -> None:
    """For each ``(name, waveform, log_probs, text)``: the log-mel spectrogram above the CTC
    frame-wise posteriors (blank and digits 0-9 per output frame, the best label marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_path

    rows = len(items)
    fig, axes = plt.subplots(2 * rows, 1, figsize=(9, 4.2 * rows), squeeze=False)
    for r, (name, x, lp, text) in enumerate(items):
        spec = audio.log_mel_spectrogram(np.asarray(x, np.float32), SAMPLE_RATE,
                                         n_mels=FEATURES["n_mels"], n_fft=FEATURES["n_fft"],
                                         hop_length=FEATURES["hop_length"],
                                         win_length=FEATURES["win_length"])
        a, b = axes[2 * r, 0], axes[2 * r + 1, 0]
        a.imshow(spec, origin="lower", aspect="auto", cmap="magma",
                 extent=(0, spec.shape[1] * FEATURES["hop_length"] / SAMPLE_RATE, 0,
                         FEATURES["n_mels"]))
        a.set(ylabel="mel band", title=f"{os.path.basename(name)}: heard '{text}'")
        if lp is None:
            b.text(0.5, 0.5, "silence (no alignment)" if not text else "one-digit classifier",
                   ha="center", va="center", transform=b.transAxes)
            b.set_axis_off()
            continue
        post = np.exp(lp).T  # (11, T')
        dt = 2 * FEATURES["hop_length"] / SAMPLE_RATE
        b.imshow(post, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1,
                 extent=(0, post.shape[1] * dt, -0.5, 10.5))
        best = lp.argmax(1)
        for t in np.flatnonzero(best):
            if t == 0 or best[t] != best[t - 1]:
                b.text((t + 0.5) * dt, best[t], str(best[t] - 1), color="red", fontsize=9,
                       ha="center", va="center")
        b.set(yticks=range(11), yticklabels=["blank"] + [str(d) for d in range(10)],
              xlabel="time (s)", ylabel="CTC posterior")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# commands


def _fsdd(path: str | None, split: str) -> FSDD:
    try:
        return FSDD(path, split=split)
    except FileNotFoundError as e:
        raise CommandError(f"{e} (pass the folder or recordings.zip with --data)") from None


def cmd_train(args: argparse.Namespace) -> int:
    """``deepwise train speech``: train, evaluate on the official test split, save."""
    if args.out is None:
        raise CommandError("--out DIR is required (where the checkpoint and results go)")
    os.makedirs(args.out, exist_ok=True)
    train, test = _fsdd(args.data, "train"), _fsdd(args.data, "test")
    if args.task == "digits":
        kind = args.model or "cnn"
        if kind not in ("cnn", "gru"):
            raise CommandError(f"--task digits takes --model cnn or gru, got {kind!r}")
        epochs = args.epochs or 12
        val = None
        if args.validation:
            train, val = split_validation(train)
        extra = {"channels": _ints(args.channels, "--channels")} if args.channels else None
        if extra and kind != "cnn":
            raise CommandError("--channels sets the CNN's widths; the GRU takes none")
        model, hist = train_digits(train, kind, epochs=epochs, lr=args.lr, seed=args.seed,
                                   test=val, max_minutes=args.minutes,
                                   label_smoothing=args.label_smoothing, mixup=args.mixup,
                                   ema=args.ema, speed=args.speed, model_config=extra)
        name = MODELS[kind][0]
        if val is not None:
            vres = evaluate_digits(model, val)
            print(f"validation accuracy {vres['accuracy']:.4f} ({vres['n']} clips of index "
                  "5-14, held out of training)")
        res = evaluate_digits(model, test)
        if val is not None:
            res["validation"] = vres
        print(f"test accuracy {res['accuracy']:.4f} ({res['n']} clips); per speaker: " +
              ", ".join(f"{s} {a:.3f}" for s, a in res["per_speaker"].items()))
        for e in res["errors"]:
            print(f"  wrong: {e}")
        save_confusion_png(res["confusion"], os.path.join(args.out, "confusion.png"),
                           f"FSDD test, {kind}: {100 * res['accuracy']:.1f}%")
    else:
        if args.model not in (None, "ctc"):
            raise CommandError(f"--task strings trains the CTC model; --model {args.model!r} "
                               "is for --task digits")
        epochs = args.epochs or 12
        test_strings = make_strings(test.waveforms, test.targets, test.speakers, args.test_strings,
                                    np.random.default_rng(1234))
        model, hist = train_strings(train, epochs=epochs, lr=args.lr, seed=args.seed,
                                    strings_per_epoch=args.strings_per_epoch,
                                    max_minutes=args.minutes)
        res = evaluate_strings(model, test_strings, beam_width=args.beam)
        name = "speech-ctc"
        print(f"test strings {res['strings']} ({res['digits']} digits): digit error rate "
              f"{res['der_greedy']:.4f} greedy" + (f", {res['der_beam']:.4f} beam" if args.beam
                                                   else "") +
              f"; string accuracy {res['string_accuracy_greedy']:.4f} greedy")
    params = sum(p.data.size for p in model.parameters())
    res.update(params=int(params), train_seconds=round(hist["train_seconds"], 1),
               epochs=len(hist["loss"]), task=args.task)
    print(f"{params:,} parameters, trained in {hist['train_seconds'] / 60:.1f} min")
    ckpt = os.path.join(args.out, "speech.safetensors")
    save_model(ckpt, model, config={"model": name, **model.config}, task=args.task,
               features=dict(FEATURES))
    with atomic_write(os.path.join(args.out, "results.json")) as f:
        json.dump({"results": res, "history": hist}, f, indent=1)
    print(f"saved {ckpt}")
    return 0


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise CommandError(f"{flag} takes integers separated by commas, got {text!r}") from None


def cmd_evaluate_digits(args: argparse.Namespace) -> int:
    """``deepwise evaluate-digits CHECKPOINT...``: the accuracy of one digit classifier, or of
    several (an ensemble: their softmax outputs averaged), on a split of FSDD."""
    group = []
    for path in args.checkpoints:
        model, _ = models.load(path, expected=("speech-cnn", "speech-gru"),
                               needs=("features",), writer="deepwise train speech --task digits")
        group.append(model)
    ds = _fsdd(args.data, "train" if args.split == "validation" else "test")
    if args.split == "validation":
        ds = split_validation(ds)[1]
    res = evaluate_digits(group, ds)
    params = sum(p.data.size for m in group for p in m.parameters())
    print(f"{args.split} accuracy {res['accuracy']:.4f} ({res['n']} clips), "
          f"{len(group)} model(s), {params:,} parameters; per speaker: " +
          ", ".join(f"{s} {a:.3f}" for s, a in res["per_speaker"].items()))
    for e in res["errors"]:
        print(f"  wrong: {e}")
    if args.confusion:
        save_confusion_png(res["confusion"], args.confusion,
                           f"FSDD {args.split}, {len(group)} model(s): "
                           f"{100 * res['accuracy']:.1f}%")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    """``deepwise transcribe CHECKPOINT FILE.wav...``: ``path<TAB>digits`` per file."""
    model, ckpt = models.load(args.checkpoint, expected=("speech-ctc", "speech-cnn",
                                                         "speech-gru"),
                              needs=("features",), writer="deepwise train speech")
    if ckpt["features"] != FEATURES:
        raise CommandError(f"'{args.checkpoint}' was trained with features {ckpt['features']}, "
                           f"this version computes {FEATURES}; retrain it")
    waves = []
    for path in args.files:
        try:
            waves.append(_load_for_transcription(path))
        except audio.WavError as e:
            raise CommandError(str(e)) from None
    texts, lps = transcribe(model, waves, beam_width=args.beam)
    for path, text, x in zip(args.files, texts, waves):
        print(f"{path}\t{text}")
        if audio.is_silent(x):
            print(f"deepwise transcribe: '{path}' is silent ({audio.rms_db(x):.0f} dBFS): no "
                  "digits", file=sys.stderr)
    if args.show:
        save_alignment_png(args.show, list(zip(args.files, waves, lps, texts))[:6])
        print(f"wrote {args.show}", file=sys.stderr)
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise train speech`` and ``deepwise transcribe``."""
    p = train_parsers(subparsers).add_parser(
        "speech", help="spoken digits (FSDD): one digit per clip, or strings with CTC",
        description="Train on the Free Spoken Digit Dataset: --task digits (a CNN on log-mel "
                    "or a BiGRU on MFCC, one digit per clip) or --task strings (connected "
                    "digit strings, a conv+BiGRU with the CTC loss). Evaluates on the official "
                    "test split (index 0-4) and saves OUT/speech.safetensors, results.json and "
                    "(digits) confusion.png.")
    p.add_argument("--task", choices=("digits", "strings"), default="digits")
    p.add_argument("--model", choices=("cnn", "gru", "ctc"), default=None,
                   help="digits: cnn (default) or gru; strings: ctc")
    p.add_argument("--data", default=None, help="FSDD recordings.zip or its folder (default: "
                   "$DEEPWISE_DATA/fsdd, ~/.cache/deepwise/fsdd)")
    p.add_argument("--out", default=None, help="output folder")
    p.add_argument("--epochs", type=int, default=None, help="default 12")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many minutes")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation", action="store_true", help="digits: hold the recordings of "
                   "index 5-14 out of training and report the accuracy on them (choose settings "
                   "on it, never on the test split)")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="digits: of the loss")
    p.add_argument("--mixup", type=float, default=0.0, help="digits: mixup alpha (0: off)")
    p.add_argument("--ema", type=float, default=0.0, help="digits: decay of an exponential "
                   "moving average of the weights, which the saved model holds (0: off)")
    p.add_argument("--speed", type=float, default=0.0, help="digits: random speed change of "
                   "up to this fraction (0.1: x0.9-1.1; 0: off)")
    p.add_argument("--channels", default=None, help="digits: the CNN's widths, e.g. 48,96,192")
    p.add_argument("--beam", type=int, default=8, help="strings: beam width of the prefix beam "
                   "search (0: greedy only)")
    p.add_argument("--test-strings", type=int, default=500, help="strings: how many test strings")
    p.add_argument("--strings-per-epoch", type=int, default=1500,
                   help="strings: fresh training strings made each epoch")
    register(p, cmd_train)
    t = subparsers.add_parser(
        "transcribe", help="the digits spoken in WAV files",
        description="Print 'path<TAB>digits' for each WAV file (any sample rate: resampled to "
                    "8 kHz; stereo mixed down; silence gives no digits), in batched passes.")
    t.add_argument("checkpoint", help="a checkpoint of 'deepwise train speech'")
    t.add_argument("files", nargs="+", help="WAV files")
    t.add_argument("--beam", type=int, default=0, help="prefix beam search width (0: greedy)")
    t.add_argument("--show", default=None, metavar="PNG",
                   help="write the spectrogram and the CTC frame-wise alignment (first 6 files)")
    register(t, cmd_transcribe)
    e = subparsers.add_parser(
        "evaluate-digits", help="accuracy of spoken-digit classifiers (one, or an ensemble)",
        description=cmd_evaluate_digits.__doc__)
    e.add_argument("checkpoints", nargs="+", help="checkpoints of 'deepwise train speech --task "
                   "digits'; several: their softmax outputs are averaged")
    e.add_argument("--data", default=None, help="FSDD recordings.zip or its folder")
    e.add_argument("--split", choices=("test", "validation"), default="test",
                   help="the official test split (index 0-4) or the validation split "
                   "(index 5-14 of the training recordings)")
    e.add_argument("--confusion", default=None, metavar="PNG", help="write the confusion matrix")
    register(e, cmd_evaluate_digits)
