"""Translation, English to French: the network reads a sentence and writes its translation;
backpropagation learns from the difference between its output and the expected translation
(cross-entropy of each next word, with teacher forcing: the decoder reads the true previous words).

Data: Tatoeba English-French pairs (``english<TAB>french`` lines, gzip or plain). The split is by
English sentence (all French translations of one sentence fall on one side), fixed seed, 90/5/5;
every French translation of a test sentence is a reference for BLEU.

Tokens: words and punctuation marks, lower-cased (``data.text.tokenize``: "J'ai faim !" ->
``["j'ai", "faim", "!"]``; an apostrophe inside a word stays in it). Words seen fewer than
``min_freq`` times in training become ``<unk>``. Hypotheses are joined back to text
(:func:`detokenize`) and scored with sacrebleu: corpus BLEU (13a tokenisation, multiple
references) and chrF, both case-insensitive (the model writes lower case).

Models (``models.translation``): ``gru`` (encoder-decoder, no attention), ``gru-attn`` (with Luong
attention), ``transformer``; each ties its French embedding to its output projection. Training:
Adam, label smoothing, padding ignored in the loss (and kept out of the vocabulary projection),
gradient clipping, the learning rate (after a linear warm-up for the Transformer) decaying
linearly to 0 at the end of the budget; a wall-clock budget (``minutes``) or a number of epochs;
validation perplexity after every epoch, the best weights kept. Decoding: greedy or batched beam
search.

Commands::

    deepwise train translation --data eng-fra.tsv.gz --model transformer --minutes 8 --out runs/tr
    deepwise translate runs/tr/translation.safetensors "I am hungry." --beam 5
    deepwise translate runs/tr/translation.safetensors --input sentences.txt
    deepwise translate runs/tr/translation.safetensors "Tom is tall." --show-attention att.png
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import manual_seed, models, nn, optim
from ..autograd import no_grad
from ..data.text import Vocab, bucket_batches, pad_batch, tokenize
from ..io import atomic_path, atomic_write, save_model
from ..nn import functional as F
from ..tensor import Tensor
from ._commands import CommandError, register, train_parsers

__all__ = ["MODEL_KINDS", "load_pairs", "split_pairs", "detokenize", "Translator",
           "train_translation", "token_accuracy", "corpus_scores", "evaluate", "save_translator",
           "load_translator", "plot_attention", "add_commands"]

# the three models of the application: registered architecture + its constructor's arguments
MODEL_KINDS: dict[str, dict[str, Any]] = {
    "gru": {"model": "translation-gru", "attention": None},
    "gru-attn": {"model": "translation-gru", "attention": "general"},
    "transformer": {"model": "translation-transformer"},
}
_ARCHS = ("translation-gru", "translation-transformer")
_WRITER = "deepwise train translation"


# --------------------------------------------------------------------------------------------
# data


def load_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(english, french)`` pairs from ``english<TAB>french`` lines (a ``.gz`` file is read
    through gzip). Blank lines are skipped; a line without a tab raises naming its number."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_pairs: no such file '{path}' (expected english<TAB>french "
                                "lines, e.g. tatoeba-eng-fra/eng-fra.tsv.gz)")
    opener = gzip.open if path.endswith(".gz") else open
    pairs = []
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\n\r")
                if not line.strip():
                    continue
                parts = line.split("\t")
                if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
                    raise ValueError(f"load_pairs: '{path}' line {lineno}: expected "
                                     f"english<TAB>french, got {line[:60]!r}")
                pairs.append((parts[0].strip(), parts[1].strip()))
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise ValueError(f"load_pairs: '{path}' is not UTF-8 text or gzip of it ({e})") from None
    if not pairs:
        raise ValueError(f"load_pairs: '{path}' holds no sentence pairs")
    return pairs


def split_pairs(pairs: Sequence[tuple[str, str]], seed: int = 0,
                fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)) -> dict[str, Any]:
    """Split by English sentence: the distinct English sentences are shuffled (``seed``) and cut
    90/5/5, so all translations of a sentence fall on one side.

    Returns ``{"train": [(en, fr), ...], "valid": {en: [fr, ...]}, "test": {en: [fr, ...]}}``
    (valid/test map each English sentence to all its references, in file order).
    """
    if abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"split_pairs: fractions must be >= 0 and sum to 1, got {fractions}")
    groups: dict[str, list[str]] = {}
    for en, fr in pairs:
        groups.setdefault(en, []).append(fr)
    english = list(groups)
    order = np.random.default_rng(seed).permutation(len(english))
    n_train = int(round(fractions[0] * len(english)))
    n_valid = int(round(fractions[1] * len(english)))
    parts = (order[:n_train], order[n_train:n_train + n_valid], order[n_train + n_valid:])
    train = [(english[i], fr) for i in sorted(parts[0]) for fr in groups[english[i]]]
    valid = {english[i]: groups[english[i]] for i in sorted(parts[1])}
    test = {english[i]: groups[english[i]] for i in sorted(parts[2])}
    return {"train": train, "valid": valid, "test": test}


def detokenize(tokens: Sequence[str]) -> str:
    """Tokens back to text: words joined by spaces, no space before ``. ,`` and none around a
    hyphen ("peut - être" -> "peut-être"); French spacing kept before ``! ? ;``."""
    text = " ".join(tokens)
    text = re.sub(r" ?- ?", "-", text)
    return re.sub(r" ([.,)])", r"\1", text)


def _pairs_of(groups: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(en, fr) for en, refs in groups.items() for fr in refs]


# --------------------------------------------------------------------------------------------
# the translator: model + vocabularies + how to encode/decode


class Translator:
    """A trained model with its two vocabularies: ``translate(sentences)`` -> French text.

    ``max_src_len``: the longest source (in tokens) the model saw in training; longer input
    raises. Unknown English words become ``<unk>`` (``unknown_words`` lists them).
    """

    def __init__(self, model: Any, src_vocab: Vocab, tgt_vocab: Vocab, kind: str,
                 max_src_len: int) -> None:
        self.model, self.src_vocab, self.tgt_vocab = model, src_vocab, tgt_vocab
        self.kind, self.max_src_len = kind, int(max_src_len)

    def unknown_words(self, sentence: str) -> list[str]:
        return [t for t in tokenize(sentence) if t not in self.src_vocab]

    def encode_sources(self, sentences: Sequence[str]) -> list[np.ndarray]:
        out = []
        for i, s in enumerate(sentences):
            toks = tokenize(s)
            if len(toks) > self.max_src_len:
                raise ValueError(f"sentence {i + 1} has {len(toks)} tokens; this model was "
                                 f"trained on sentences of at most {self.max_src_len} (split it "
                                 f"into shorter sentences): {s[:60]!r}")
            out.append(self.src_vocab.encode(toks))
        return out

    def _decode_ids(self, ids: list[int]) -> str:
        return detokenize(self.tgt_vocab.decode(ids))

    def translate(self, sentences: Sequence[str] | str, beam: int = 1, batch_size: int = 128,
                  length_penalty: float = 1.0) -> list[str]:
        """One French sentence per English sentence (an empty sentence gives ""), translated in
        batches sorted by length; ``beam`` 1 = greedy, else beam search of that width."""
        if isinstance(sentences, str):
            sentences = [sentences]
        seqs = self.encode_sources(sentences)
        out = [""] * len(seqs)
        todo = [i for i, s in enumerate(seqs) if len(s)]
        todo.sort(key=lambda i: len(seqs[i]))
        v = self.tgt_vocab
        self.model.eval()
        for start in range(0, len(todo), batch_size):
            idx = todo[start:start + batch_size]
            src, lens = pad_batch([seqs[i] for i in idx], v.pad_index or 0)
            max_len = int(2 * lens.data.max() + 5)
            if beam > 1:
                hyps = self.model.beam_search(src, lens, v.bos_index, v.eos_index, beam,
                                              max_len, length_penalty)
            else:
                hyps = self.model.greedy(src, lens, v.bos_index, v.eos_index, max_len)
            for i, h in zip(idx, hyps):
                out[i] = self._decode_ids(h)
        return out

    def attention(self, sentence: str, beam: int = 1) -> tuple[list[str], list[str], list]:
        """(source tokens, target tokens, attention maps) of one sentence's translation: maps
        are (T, S) for the GRU with attention, (heads, T, S) per layer for the Transformer."""
        src_ids = self.encode_sources([sentence])[0]
        if not len(src_ids):
            raise ValueError("attention: the sentence is empty")
        v = self.tgt_vocab
        src, lens = pad_batch([src_ids], v.pad_index or 0)
        max_len = int(2 * len(src_ids) + 5)
        if beam > 1:
            hyp = self.model.beam_search(src, lens, v.bos_index, v.eos_index, beam, max_len)[0]
        else:
            hyp = self.model.greedy(src, lens, v.bos_index, v.eos_index, max_len)[0]
        tgt_in = np.array([[v.bos_index] + hyp], dtype=np.int64)
        maps = self.model.cross_attention(src, lens, tgt_in)
        target = v.decode(hyp) + ["<eos>"]
        return self.src_vocab.decode(src_ids), target, [m[0] for m in maps]


# --------------------------------------------------------------------------------------------
# training


def _encode_pairs(pairs: Sequence[tuple[str, str]], src_vocab: Vocab, tgt_vocab: Vocab,
                  max_src_len: int | None = None) -> tuple[list, list]:
    src, tgt = [], []
    bos, eos = tgt_vocab.bos_index, tgt_vocab.eos_index
    for en, fr in pairs:
        s = src_vocab.encode(tokenize(en))
        if not len(s) or (max_src_len is not None and len(s) > max_src_len):
            continue
        src.append(s)
        tgt.append(np.concatenate([[bos], tgt_vocab.encode(tokenize(fr)), [eos]]).astype(np.int64))
    return src, tgt


def _batch(src: list, tgt: list, idx: np.ndarray, pad: int) -> tuple:
    s, lens = pad_batch([src[i] for i in idx], pad)
    t, _ = pad_batch([tgt[i] for i in idx], pad)
    return s, lens, Tensor._make(t.data[:, :-1].copy()), Tensor._make(t.data[:, 1:].copy())


def _loss(model: Any, batch: tuple, pad: int, smoothing: float) -> Tensor:
    """Mean cross-entropy per real target token. Only the real (non-padding) positions go
    through the vocabulary projection, the largest matrix product of a step."""
    s, lens, t_in, t_out = batch
    feats = model.features(s, lens, t_in)
    real = t_out.data.reshape(-1) != pad
    logits = model.out(feats.reshape(-1, feats.shape[-1])[real])
    return F.cross_entropy(logits, Tensor._make(t_out.data.reshape(-1)[real]),
                           label_smoothing=smoothing)


def _bucket_key(src: list, tgt: list) -> list[int]:
    """Batches are bucketed by source length, then target length: sorting by the source alone
    left 35% of the target positions padding on Tatoeba, this 14%."""
    return [len(s) * 1024 + len(t) for s, t in zip(src, tgt)]


@no_grad()
def _perplexity(model: Any, src: list, tgt: list, pad: int, batch_size: int = 128) -> float:
    """exp(mean cross-entropy per target token), teacher forced, no label smoothing."""
    model.eval()
    total, count = 0.0, 0
    for idx in bucket_batches(_bucket_key(src, tgt), batch_size, shuffle=False):
        batch = _batch(src, tgt, idx, pad)
        n = int((batch[3].data != pad).sum())
        total += float(_loss(model, batch, pad, 0.0).data) * n
        count += n
    model.train()
    return math.exp(total / max(count, 1))


@no_grad()
def token_accuracy(translator: Translator, pairs: Sequence[tuple[str, str]],
                   batch_size: int = 128) -> float:
    """The fraction of target tokens (``<eos>`` included, padding not) that the model predicts
    right when it reads the true previous tokens (teacher forcing)."""
    src, tgt = _encode_pairs(pairs, translator.src_vocab, translator.tgt_vocab,
                             translator.max_src_len)
    pad = translator.tgt_vocab.pad_index
    model = translator.model
    model.eval()
    right = total = 0
    for idx in bucket_batches([len(s) for s in src], batch_size, shuffle=False):
        s, lens, t_in, t_out = _batch(src, tgt, idx, pad)
        pred = model(s, lens, t_in).data.argmax(axis=-1)
        real = t_out.data != pad
        right += int((pred == t_out.data)[real].sum())
        total += int(real.sum())
    return right / max(total, 1)


def _defaults(kind: str) -> dict[str, Any]:
    """The recipe per model, chosen by 3-minute runs on this corpus (BENCHMARKS.md): tied
    French embeddings and a linear decay to 0 over the budget beat untied ones with a constant
    (GRU) or inverse-square-root (Transformer) rate at equal wall-clock."""
    if kind == "transformer":
        return dict(lr=3e-3, warmup=100, decay="linear", batch_size=64, dropout=0.1,
                    d_model=256, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                    dim_feedforward=512, tie_embeddings=True)
    return dict(lr=3e-3, warmup=0, decay="linear", batch_size=64, dropout=0.2, embed_size=256,
                hidden_size=256, tie_embeddings=True)


def _lr_factor(step: int, warmup: int, decay: str, progress: float) -> float:
    """The learning rate of step ``step`` (from 1) over the peak: a linear warm-up over
    ``warmup`` steps, then ``decay``: "none" (constant), "inv-sqrt" (sqrt(warmup / step),
    Vaswani et al. 2017) or "linear" (to 0 at the end of the budget: ``progress`` is the
    fraction of the minutes, or of the epochs' steps, spent; Li et al. 2020, budgeted training)."""
    up = min(1.0, step / warmup) if warmup else 1.0
    if decay == "inv-sqrt":
        return up * min(1.0, math.sqrt(warmup / step)) if warmup else 1.0
    if decay == "linear":
        return up * max(0.0, 1.0 - progress)
    return up


def train_translation(split: dict[str, Any], kind: str = "gru-attn", *,
                      minutes: float | None = None, epochs: int = 20, min_freq: int = 2,
                      label_smoothing: float = 0.1, clip: float = 1.0, seed: int = 0,
                      log: Callable[[str], None] | None = print,
                      **overrides: Any) -> tuple[Translator, dict[str, Any]]:
    """Train one model on ``split["train"]`` and keep the weights of the best validation
    perplexity; stops after ``epochs`` or when ``minutes`` of training have passed.

    ``overrides``: recipe values (``lr``, ``warmup`` steps, ``decay`` - see :func:`_lr_factor`,
    ``batch_size``, ``dropout``) and the
    model's constructor arguments (``hidden_size``, ``d_model``, ...). Returns the Translator and
    a history ``{"epochs": [...], "seconds", "steps", ...}``.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"train_translation: unknown model {kind!r}; choose one of "
                         f"{sorted(MODEL_KINDS)}")
    manual_seed(seed)
    recipe = {**_defaults(kind), **overrides}
    lr, warmup, batch_size = recipe.pop("lr"), recipe.pop("warmup"), recipe.pop("batch_size")
    decay = recipe.pop("decay")
    if decay not in ("none", "inv-sqrt", "linear"):
        raise ValueError(f"train_translation: decay must be 'none', 'inv-sqrt' or 'linear', got "
                         f"{decay!r}")
    train = split["train"]
    src_vocab = Vocab([tokenize(en) for en, _ in train], min_freq=min_freq)
    tgt_vocab = Vocab([tokenize(fr) for _, fr in train], min_freq=min_freq)
    pad = tgt_vocab.pad_index
    src, tgt = _encode_pairs(train, src_vocab, tgt_vocab)
    vsrc, vtgt = _encode_pairs(_pairs_of(split["valid"]), src_vocab, tgt_vocab)
    max_src_len = max(len(s) for s in src)
    config = {**MODEL_KINDS[kind], "src_vocab_size": len(src_vocab),
              "tgt_vocab_size": len(tgt_vocab), "pad_index": pad, **recipe}
    model = models.build(config)
    opt = optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    gen = np.random.default_rng(seed)
    history: dict[str, Any] = {"kind": kind, "epochs": [], "steps": 0, "recipe": {
        "lr": lr, "warmup": warmup, "decay": decay, "batch_size": batch_size, "min_freq": min_freq,
        "label_smoothing": label_smoothing, "clip": clip, "minutes": minutes, **recipe}}
    best, best_state = math.inf, None
    start = time.perf_counter()
    budget = None if minutes is None else 60.0 * minutes
    out_of_time = False
    if log:
        n_params = sum(p.data.size for p in model.parameters())
        log(f"{kind}: {len(src)} training pairs, {len(vsrc)} validation pairs; vocabularies "
            f"{len(src_vocab)} English / {len(tgt_vocab)} French words; {n_params:,} parameters")
    keys = _bucket_key(src, tgt)
    total_steps = epochs * math.ceil(len(src) / batch_size)
    for epoch in range(1, epochs + 1):
        model.train()
        total, count = 0.0, 0
        for idx in bucket_batches(keys, batch_size, generator=gen):
            progress = (history["steps"] / total_steps if budget is None
                        else (time.perf_counter() - start) / budget)
            factor = _lr_factor(history["steps"] + 1, warmup, decay, progress)
            for group in opt.param_groups:
                group["lr"] = lr * factor
            loss = _loss(model, _batch(src, tgt, idx, pad), pad, label_smoothing)
            opt.zero_grad()
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            history["steps"] += 1
            total += float(loss.data)
            count += 1
            if budget is not None and time.perf_counter() - start > budget:
                out_of_time = True
                break
        ppl = _perplexity(model, vsrc, vtgt, pad)
        elapsed = time.perf_counter() - start
        history["epochs"].append({"epoch": epoch, "train_loss": total / max(count, 1),
                                  "valid_ppl": ppl, "seconds": elapsed,
                                  "steps": history["steps"], "complete": not out_of_time})
        if log:
            log(f"epoch {epoch}{' (cut by the time budget)' if out_of_time else ''}: train loss "
                f"{total / max(count, 1):.3f}, validation perplexity {ppl:.2f} "
                f"({history['steps']} steps, {elapsed:.0f} s)")
        if ppl < best:
            best, best_state = ppl, {k: v.copy() for k, v in model.state_dict().items()}
        if out_of_time:
            break
    model.load_state_dict(best_state)
    model.eval()
    history.update(seconds=time.perf_counter() - start, best_valid_ppl=best,
                   train_pairs=len(src))
    return Translator(model, src_vocab, tgt_vocab, kind, max_src_len), history


# --------------------------------------------------------------------------------------------
# scoring


def _sacrebleu() -> Any:
    try:
        import sacrebleu
    except ImportError:
        raise CommandError("BLEU and chrF need sacrebleu: pip install sacrebleu (or pip install "
                           "'deepwise[translation]')") from None
    return sacrebleu


def corpus_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    """Corpus BLEU (13a) and chrF, both case-insensitive, of ``hypotheses`` against a list of
    references per hypothesis (any number each), with sacrebleu."""
    sb = _sacrebleu()
    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_scores: {len(hypotheses)} hypotheses but {len(references)} "
                         "reference lists")
    if not hypotheses:
        raise ValueError("corpus_scores: no sentences to score")
    k = max(len(r) for r in references)
    streams = [[r[j] if j < len(r) else None for r in references] for j in range(k)]
    bleu = sb.BLEU(lowercase=True).corpus_score(list(hypotheses), streams)
    chrf = sb.CHRF(lowercase=True).corpus_score(list(hypotheses), streams)
    return {"bleu": bleu.score, "chrf": chrf.score, "bleu_signature": str(bleu)}


def evaluate(translator: Translator, groups: dict[str, list[str]], beam: int = 1,
             length_penalty: float = 1.0) -> dict[str, Any]:
    """BLEU and chrF of the translations of ``groups`` (English -> all its references)."""
    english = list(groups)
    t = time.perf_counter()
    hyps = translator.translate(english, beam=beam, length_penalty=length_penalty)
    scores = corpus_scores(hyps, [groups[e] for e in english])
    scores.update(sentences=len(english), beam=beam, seconds=time.perf_counter() - t,
                  examples=[(e, h, groups[e][0]) for e, h in list(zip(english, hyps))[:5]])
    return scores


# --------------------------------------------------------------------------------------------
# checkpoint


def save_translator(path: str | os.PathLike, translator: Translator, **extra: Any) -> None:
    """Model config + both vocabularies + kind + max source length + weights, one file."""
    m = translator.model
    arch = "translation-transformer" if isinstance(m, models.TransformerTranslator) \
        else "translation-gru"
    save_model(path, m, {"model": arch, **m.config}, src_vocab=translator.src_vocab.to_dict(),
               tgt_vocab=translator.tgt_vocab.to_dict(), kind=translator.kind,
               max_src_len=translator.max_src_len, **extra)


def load_translator(path: str | os.PathLike) -> Translator:
    """The Translator saved by :func:`save_translator` (another kind of checkpoint raises
    ValueError naming what the file holds)."""
    model, ckpt = models.load(path, expected=_ARCHS, needs=("src_vocab", "tgt_vocab"),
                              writer=_WRITER)
    where = f"load_translator('{os.fspath(path)}')"
    return Translator(model, Vocab.from_dict(ckpt["src_vocab"], where),
                      Vocab.from_dict(ckpt["tgt_vocab"], where), str(ckpt.get("kind", "?")),
                      int(ckpt.get("max_src_len", 64)))


# --------------------------------------------------------------------------------------------
# attention heatmaps


def plot_attention(path: str | os.PathLike, source: list[str], target: list[str],
                   maps: list, title: str = "") -> None:
    """Write the attention heatmap(s) as a PNG: source words across, target words down; one
    panel for a (T, S) map, a grid of layers x heads for (heads, T, S) maps."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CommandError("--show-attention needs matplotlib: pip install matplotlib") from None
    if not maps:
        raise CommandError("this model has no attention to show (the plain GRU reads a single "
                           "summary vector); use a gru-attn or transformer checkpoint")
    panels = [[m] for m in maps] if maps[0].ndim == 2 else [list(m) for m in maps]
    rows, cols = len(panels), len(panels[0])
    w = max(3.0, 0.45 * len(source) + 1.5)
    h = max(2.5, 0.4 * len(target) + 1.2)
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for r, row in enumerate(panels):
        for c, m in enumerate(row):
            ax = axes[r][c]
            ax.imshow(m, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
            ax.set_xticks(range(len(source)), source, rotation=60, ha="right", fontsize=8)
            ax.set_yticks(range(len(target)), target, fontsize=8)
            if len(panels) > 1 or len(row) > 1:
                ax.set_title(f"layer {r + 1}, head {c + 1}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# commands


def cmd_train(args: argparse.Namespace) -> int:
    """Train one translator, report validation perplexity per epoch and test BLEU/chrF (greedy
    and beam), and save the checkpoint."""
    _sacrebleu()  # fail before training, not after it
    pairs = load_pairs(args.data)
    split = split_pairs(pairs, seed=args.split_seed)
    print(f"{len(pairs)} pairs from {args.data}: {len(split['train'])} training pairs, "
          f"{len(split['valid'])} validation and {len(split['test'])} test English sentences")
    if not split["test"] or not split["valid"]:
        raise CommandError(f"{args.data}: too few distinct English sentences for a 90/5/5 split "
                           f"({len(split['valid'])} validation, {len(split['test'])} test)")
    overrides = {k: v for k, v in (("lr", args.lr), ("batch_size", args.batch_size),
                                   ("warmup", args.warmup), ("dropout", args.dropout),
                                   ("decay", args.decay),
                                   ("tie_embeddings", args.tie_embeddings))
                 if v is not None}
    if args.size is not None:
        overrides["d_model" if args.model == "transformer" else "hidden_size"] = args.size
        if args.model != "transformer":
            overrides["embed_size"] = args.size
    translator, history = train_translation(
        split, args.model, minutes=args.minutes, epochs=args.epochs, min_freq=args.min_freq,
        label_smoothing=args.label_smoothing, clip=args.clip, seed=args.seed,
        log=None if args.quiet else print, **overrides)
    test = split["test"]
    if args.test_sentences:
        test = dict(list(test.items())[:args.test_sentences])
    results = {"history": history, "test": {}}
    for beam in sorted({1, args.beam}):
        s = evaluate(translator, test, beam=beam)
        name = "greedy" if beam == 1 else f"beam {beam}"
        print(f"test ({s['sentences']} sentences), {name}: BLEU {s['bleu']:.2f}, chrF "
              f"{s['chrf']:.2f} ({s['seconds']:.0f} s)")
        results["test"][name] = {k: v for k, v in s.items() if k != "examples"}
        if beam == 1:
            for en, hyp, ref in s["examples"][:3]:
                print(f"  {en}  ->  {hyp}   (reference: {ref})")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "translation.safetensors")
        save_translator(path, translator)
        with atomic_write(os.path.join(args.out, "metrics.json")) as f:
            json.dump(results, f, indent=2, default=str)
        print(f"wrote {path} and {os.path.join(args.out, 'metrics.json')}")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    """Print one translation per sentence (arguments, or the lines of --input)."""
    if args.input:
        if args.sentences:
            raise CommandError("give sentences or --input FILE, not both")
        if not os.path.isfile(args.input):
            raise FileNotFoundError(f"--input: no such file '{args.input}'")
        with open(args.input, encoding="utf-8") as f:
            sentences = [line.rstrip("\n\r") for line in f]
    else:
        sentences = list(args.sentences)
        if not sentences:
            raise CommandError("nothing to translate: give a sentence or --input FILE")
        for i, s in enumerate(sentences, 1):
            if not tokenize(s):
                raise CommandError(f"sentence {i} is empty (nothing to translate)")
    if args.beam < 1:
        raise CommandError(f"--beam must be >= 1, got {args.beam}")
    translator = load_translator(args.checkpoint)
    unknown = sorted({w for s in sentences for w in translator.unknown_words(s)})
    if unknown:
        print(f"note: {len(unknown)} word(s) not in the training vocabulary, read as <unk>: "
              f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}", file=sys.stderr)
    for line in translator.translate(sentences, beam=args.beam):
        print(line)
    if args.show_attention:
        first = next((s for s in sentences if tokenize(s)), None)
        if first is None:
            raise CommandError("--show-attention: every sentence is empty")
        src, tgt, maps = translator.attention(first, beam=args.beam)
        plot_attention(args.show_attention, src, tgt, maps, title=f"{translator.kind}: {first}")
        print(f"wrote the attention of {first!r} to {args.show_attention}", file=sys.stderr)
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise train translation`` and ``deepwise translate``."""
    t = train_parsers(subparsers).add_parser(
        "translation", help="train an English-to-French translator (gru, gru-attn, transformer)",
        description="Train a translator on english<TAB>french pairs (split 90/5/5 by English "
                    "sentence), then report test BLEU and chrF, greedy and beam.")
    t.add_argument("--data", required=True, metavar="FILE",
                   help="english<TAB>french lines (.tsv or .tsv.gz), e.g. eng-fra.tsv.gz")
    t.add_argument("--model", choices=sorted(MODEL_KINDS), default="transformer")
    t.add_argument("--minutes", type=float, default=None, help="wall-clock training budget")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--warmup", type=int, default=None, help="linear warm-up steps")
    t.add_argument("--decay", choices=("none", "inv-sqrt", "linear"), default=None,
                   help="learning-rate decay after the warm-up (linear: to 0 at the end of "
                        "--minutes or --epochs)")
    t.add_argument("--dropout", type=float, default=None)
    t.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="share one weight between the French embedding and the output "
                        "projection")
    t.add_argument("--size", type=int, default=None,
                   help="hidden size (gru) or d_model (transformer)")
    t.add_argument("--min-freq", type=int, default=2, help="rarer words become <unk>")
    t.add_argument("--label-smoothing", type=float, default=0.1)
    t.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping (0: off)")
    t.add_argument("--beam", type=int, default=5, help="beam size for the test score")
    t.add_argument("--test-sentences", type=int, default=0, metavar="N",
                   help="score only the first N test sentences (0: all)")
    t.add_argument("--split-seed", type=int, default=0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", metavar="DIR", help="write DIR/translation.safetensors and "
                   "DIR/metrics.json")
    t.add_argument("--quiet", action="store_true", help="no per-epoch output")
    register(t, cmd_train)
    p = subparsers.add_parser(
        "translate", help="translate English sentences to French with a trained checkpoint",
        description="Print one French translation per English sentence.")
    p.add_argument("checkpoint", help="a translation.safetensors from 'train translation'")
    p.add_argument("sentences", nargs="*", metavar="SENTENCE")
    p.add_argument("--input", metavar="FILE", help="one sentence per line, translated in batches")
    p.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    p.add_argument("--show-attention", metavar="PNG",
                   help="write the attention heatmap of the first sentence")
    register(p, cmd_translate)
