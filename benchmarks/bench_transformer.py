"""Transformer timings, deepwise vs PyTorch, same weights and data on both sides:

* one ``TransformerEncoderLayer`` (d_model 256, 4 heads, feed-forward 1024, post-norm, no
  dropout) forward + backward on a batch of 32 sequences of 32 tokens (loss = sum(out * G));
* one training step of the translator's Transformer (``models.TransformerTranslator``: 2+2
  pre-norm layers, d_model 256, vocabularies 4243 / 6104 words as on the Tatoeba split, batch 64,
  source 8 / target 10 tokens): forward, label-smoothed cross-entropy, backward, clipping, Adam.

Run: ``python -m benchmarks.harness benchmarks.bench_transformer``
"""

from __future__ import annotations

from typing import Any

import numpy as np

D, HEADS, FF, SEQ, BATCH = 256, 4, 1024, 32, 32
V_SRC, V_TGT, TB, S_LEN, T_LEN = 4243, 6104, 64, 8, 10
TR = dict(d_model=256, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
          dim_feedforward=512, dropout=0.0)
CASES = [{"name": f"encoder layer fwd+bwd (d{D}, {HEADS} heads, seq {SEQ}, batch {BATCH})",
          "kind": "layer", "unit": "tokens/s"},
         {"name": f"translator step (Transformer 2+2, d256, batch {TB})", "kind": "translator",
          "unit": "target tokens/s"}]


def _layer_data() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    import deepwise as dw
    from deepwise import nn

    dw.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SEQ, D)).astype(np.float32)
    g = rng.standard_normal((BATCH, SEQ, D)).astype(np.float32)
    return x, g, layer.state_dict()


def _translator_data() -> tuple[dict, dict[str, np.ndarray]]:
    import deepwise as dw
    from deepwise import models

    dw.manual_seed(0)
    model = models.TransformerTranslator(V_SRC, V_TGT, **TR)
    rng = np.random.default_rng(0)
    batch = {"src": rng.integers(4, V_SRC, (TB, S_LEN)),
             "lengths": rng.integers(3, S_LEN + 1, TB),
             "tgt": rng.integers(4, V_TGT, (TB, T_LEN + 1))}
    batch["src"][np.arange(S_LEN)[None] >= batch["lengths"][:, None]] = 0
    return batch, model.state_dict()


def deepwise_step(case: dict) -> tuple[Any, int]:
    import deepwise as dw
    from deepwise import models, nn, optim
    from deepwise.nn import functional as F

    if case["kind"] == "layer":
        x, g, sd = _layer_data()
        layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True)
        layer.load_state_dict(sd)
        xt, gt = dw.tensor(x, requires_grad=True), dw.tensor(g)

        def step() -> None:
            layer.zero_grad()
            xt.grad = None
            (layer(xt) * gt).sum().backward()

        return step, BATCH * SEQ
    batch, sd = _translator_data()
    model = models.TransformerTranslator(V_SRC, V_TGT, **TR)
    model.load_state_dict(sd)
    model.train()
    opt = optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98))
    src, lens = dw.tensor(batch["src"]), batch["lengths"]
    t_in, t_out = dw.tensor(batch["tgt"][:, :-1]), dw.tensor(batch["tgt"][:, 1:].reshape(-1))

    def step() -> None:
        logits = model(src, lens, t_in)
        loss = F.cross_entropy(logits.reshape(-1, V_TGT), t_out, ignore_index=0,
                               label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step, TB * T_LEN


def _torch_translator() -> tuple[Any, tuple]:
    """The translator's architecture in PyTorch, with deepwise's parameter names and weights."""
    import torch

    class Translator(torch.nn.Module):  # the same architecture and parameter names
        def __init__(self) -> None:
            super().__init__()
            d = TR["d_model"]
            self.src_embed = torch.nn.Embedding(V_SRC, d, padding_idx=0)
            self.tgt_embed = torch.nn.Embedding(V_TGT, d, padding_idx=0)
            self.transformer = torch.nn.Transformer(
                d, TR["nhead"], TR["num_encoder_layers"], TR["num_decoder_layers"],
                TR["dim_feedforward"], 0.0, batch_first=True, norm_first=True)
            self.out = torch.nn.Linear(d, V_TGT)
            self.register_buffer("pe", torch.zeros(128, d))
            self.scale = d ** 0.5

        def forward(self, src: Any, lengths: Any, t_in: Any) -> Any:
            spm = torch.arange(src.shape[1])[None] >= lengths[:, None]
            tpm = t_in == 0
            tpm[:, 0] = False
            causal = torch.nn.Transformer.generate_square_subsequent_mask(t_in.shape[1])
            s = self.src_embed(src) * self.scale + self.pe[:src.shape[1]]
            t = self.tgt_embed(t_in) * self.scale + self.pe[:t_in.shape[1]]
            h = self.transformer(s, t, tgt_mask=causal, src_key_padding_mask=spm,
                                 tgt_key_padding_mask=tpm, memory_key_padding_mask=spm)
            return self.out(h)

    batch, sd = _translator_data()
    model = Translator()
    state = {k: torch.from_numpy(v) for k, v in sd.items()}
    state["pe"] = state.pop("pos.pe")
    model.load_state_dict(state)
    src, lens = torch.from_numpy(batch["src"]), torch.from_numpy(batch["lengths"])
    t_in = torch.from_numpy(batch["tgt"][:, :-1].copy())
    t_out = torch.from_numpy(batch["tgt"][:, 1:].reshape(-1).copy())
    return model, (src, lens, t_in, t_out)


def torch_step(case: dict) -> tuple[Any, int]:
    import torch
    import torch.nn.functional as F

    if case["kind"] == "layer":
        x, g, sd = _layer_data()
        layer = torch.nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True)
        layer.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
        xt, gt = torch.tensor(x, requires_grad=True), torch.from_numpy(g)

        def step() -> None:
            layer.zero_grad()
            xt.grad = None
            (layer(xt) * gt).sum().backward()

        return step, BATCH * SEQ

    model, (src, lens, t_in, t_out) = _torch_translator()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98))

    def step() -> None:
        logits = model(src, lens, t_in)
        loss = F.cross_entropy(logits.reshape(-1, V_TGT), t_out, ignore_index=0,
                               label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step, TB * T_LEN


def check_same_loss() -> None:
    """The two translator models compute the same loss on the batch (the comparison is fair):
    ``python -m benchmarks.bench_transformer``."""
    import torch
    import torch.nn.functional as TF

    import deepwise as dw
    from deepwise import models
    from deepwise.nn import functional as F

    batch, sd = _translator_data()
    m = models.TransformerTranslator(V_SRC, V_TGT, **TR)
    m.load_state_dict(sd)
    m.eval()
    with dw.no_grad():
        a = F.cross_entropy(m(dw.tensor(batch["src"]), batch["lengths"],
                              dw.tensor(batch["tgt"][:, :-1])).reshape(-1, V_TGT),
                            dw.tensor(batch["tgt"][:, 1:].reshape(-1)), ignore_index=0)
    tm, (src, lens, t_in, t_out) = _torch_translator()
    tm.eval()
    with torch.no_grad():
        b = TF.cross_entropy(tm(src, lens, t_in).reshape(-1, V_TGT), t_out, ignore_index=0)
    print(f"first loss: deepwise {float(a.data):.6f}, PyTorch {float(b):.6f}")
    assert abs(float(a.data) - float(b)) < 1e-4


def cpu_times(steps: int = 10) -> None:
    """Process CPU time per step of both libraries at 1 thread (steadier than wall time on a
    shared machine): ``OMP_NUM_THREADS=1 python -m benchmarks.bench_transformer --cpu``."""
    import time

    import torch

    torch.set_num_threads(1)
    for case in CASES:
        for lib, make in (("deepwise", deepwise_step), ("PyTorch", torch_step)):
            step, _ = make(case)
            for _ in range(3):
                step()
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(steps):
                step()
            cpu, wall = (time.process_time() - c0) / steps, (time.perf_counter() - w0) / steps
            print(f"{case['name']}: {lib} {1000 * cpu:.1f} ms CPU / {1000 * wall:.1f} ms wall "
                  "per step")


if __name__ == "__main__":
    import sys

    cpu_times() if "--cpu" in sys.argv else check_same_loss()
