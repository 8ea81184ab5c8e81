"""Sequence-to-sequence translators: a GRU encoder-decoder (Sutskever et al. 2014; Cho et al.
2014), the same with Luong attention (Luong et al. 2015), and a small Transformer (Vaswani et al.
2017); with greedy and batched beam-search decoding.

Every model reads a padded batch of source ids ``src`` (N, S) with their ``src_lengths`` (N,)
and, with teacher forcing, the target shifted right ``tgt_in`` (N, T) = ``<bos> y_1 ... y_{T-1}``;
``forward`` returns the logits (N, T, V) of ``y_1 ... y_T``: ``out(features(src, src_lengths,
tgt_in))``, the vocabulary projection ``out`` applied to the decoder's features (N, T, D), so
training can project only the real (non-padding) target positions. Decoding uses four methods that
each model implements:

* ``encode(src, src_lengths)`` -> ``memory`` (a dict of tensors/arrays, batch first);
* ``start(memory)`` -> the decoder's first state;
* ``step(prev_ids, state, memory)`` -> ``(logits (N, V), state)`` for one target position;
* ``select(state, memory, rows)`` -> both restricted/reordered to the batch rows ``rows``
  (beam search keeps N * K rows and reorders them after each step).

``cross_attention(src, src_lengths, tgt_in)`` returns the attention weights over the source
(for heatmaps): one (N, T, S) array for the GRU, one (N, heads, T, S) per decoder layer for the
Transformer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops import shape as _shape
from ..tensor import Tensor

__all__ = ["Seq2Seq", "Seq2SeqGRU", "TransformerTranslator"]


def _padding_mask(lengths: Any, s: int) -> np.ndarray:
    """(N, S) bool, True at the padded positions (PyTorch's key_padding_mask)."""
    lens = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths).reshape(-1, 1)
    return np.arange(s)[None, :] >= lens


def _rows(x: Any, rows: np.ndarray) -> Any:
    if x is None:
        return None
    if isinstance(x, Tensor):
        return Tensor._make(x.data[rows])
    return x[rows]


class Seq2Seq(nn.Module):
    """What the translators share: greedy and beam-search decoding over ``encode`` / ``start`` /
    ``step`` / ``select``, and the checks of their inputs."""

    def _check_src(self, src: Any, src_lengths: Any) -> tuple[Tensor, np.ndarray]:
        s = src if isinstance(src, Tensor) else Tensor._make(np.asarray(src, dtype=np.int64))
        if s.ndim != 2 or s.dtype.kind not in "iu":
            raise ValueError(f"{type(self).__name__}: src must be (N, S) integer ids, got "
                             f"{s.dtype} of shape {tuple(s.shape)}")
        lens = np.asarray(src_lengths.data if isinstance(src_lengths, Tensor) else src_lengths,
                          dtype=np.int64).reshape(-1)
        if lens.shape != (s.shape[0],) or (lens < 1).any() or (lens > s.shape[1]).any():
            raise ValueError(f"{type(self).__name__}: src_lengths must hold N = {s.shape[0]} "
                             f"lengths in [1, {s.shape[1]}], got {lens.tolist()}")
        return s, lens

    @no_grad()
    def greedy(self, src: Any, src_lengths: Any, bos: int, eos: int,
               max_len: int = 50) -> list[list[int]]:
        """The most likely next token at each step, until ``<eos>`` (not included) or
        ``max_len`` tokens; one list of ids per sentence."""
        src, lens = self._check_src(src, src_lengths)
        memory = self.encode(src, lens)
        state = self.start(memory)
        n = src.shape[0]
        prev = np.full(n, bos, dtype=np.int64)
        out = np.zeros((n, 0), dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        for _ in range(max_len):
            logits, state = self.step(prev, state, memory)
            prev = logits.data.argmax(axis=-1).astype(np.int64)
            prev[done] = eos
            out = np.concatenate([out, prev[:, None]], axis=1)
            done |= prev == eos
            if done.all():
                break
        return [_cut(row, eos) for row in out]

    @no_grad()
    def beam_search(self, src: Any, src_lengths: Any, bos: int, eos: int, beam_size: int = 5,
                    max_len: int = 50, length_penalty: float = 1.0) -> list[list[int]]:
        """Batched beam search: the N sentences times K beams are decoded together as N * K rows.

        Each step extends every live beam by every token (log-probabilities added) and keeps
        the K best of the K * V candidates per sentence; a beam that produced ``<eos>`` stays in
        the beam with its score frozen. The answer is the beam with the best
        ``score / ((5 + length) / 6) ** length_penalty`` (Wu et al. 2016; 0 = raw log-prob).
        """
        if beam_size < 1:
            raise ValueError(f"beam_search: beam_size must be >= 1, got {beam_size}")
        src, lens = self._check_src(src, src_lengths)
        n, k = src.shape[0], beam_size
        memory = self.encode(src, lens)
        rows = np.repeat(np.arange(n), k)
        state, memory = self.select(self.start(memory), memory, rows)
        scores = np.full((n, k), -np.inf)
        scores[:, 0] = 0.0  # at the start only one beam is live (they are all the same)
        seqs = np.zeros((n, k, 0), dtype=np.int64)
        prev = np.full(n * k, bos, dtype=np.int64)
        done = np.zeros((n, k), dtype=bool)
        length = np.zeros((n, k), dtype=np.int64)
        for _ in range(max_len):
            logits, state = self.step(prev, state, memory)
            logp = F.log_softmax(logits, dim=-1).data.astype(np.float64)
            v = logp.shape[-1]
            logp = logp.reshape(n, k, v)
            logp[done] = -np.inf
            logp[done, eos] = 0.0  # a finished beam continues with <eos> at no cost
            cand = (scores[:, :, None] + logp).reshape(n, k * v)
            best = np.argpartition(-cand, k - 1, axis=1)[:, :k] if k < k * v else \
                np.tile(np.arange(k * v), (n, 1))
            order = np.argsort(-np.take_along_axis(cand, best, axis=1), axis=1, kind="stable")
            best = np.take_along_axis(best, order, axis=1)
            origin, token = best // v, best % v
            scores = np.take_along_axis(cand, best, axis=1)
            done = np.take_along_axis(done, origin, axis=1)
            length = np.take_along_axis(length, origin, axis=1) + ~done
            seqs = np.concatenate([np.take_along_axis(seqs, origin[:, :, None], axis=1),
                                   token[:, :, None]], axis=2)
            done = done | (token == eos)
            flat = (np.arange(n)[:, None] * k + origin).reshape(-1)
            state, memory = self.select(state, memory, flat)
            prev = token.reshape(-1).astype(np.int64)
            if done.all():
                break
        norm = scores / ((5.0 + length) / 6.0) ** length_penalty
        pick = np.argmax(norm, axis=1)
        return [_cut(seqs[i, pick[i]], eos) for i in range(n)]


def _cut(row: np.ndarray, eos: int) -> list[int]:
    ids = row.tolist()
    return ids[:ids.index(eos)] if eos in ids else ids


class Seq2SeqGRU(Seq2Seq):
    """GRU encoder-decoder; ``attention="general"`` or ``"dot"`` adds Luong attention.

    Encoder: embedding -> dropout -> bidirectional GRU over the real steps of each sentence
    (``lengths=``); its two final states, concatenated and projected (``bridge``, tanh), start the
    decoder. Decoder: embedding -> dropout -> GRU over ``tgt_in``. Without attention the
    decoder's output goes straight to the vocabulary projection ``out``; with attention each
    output h_t attends over the encoder outputs (padding masked), and ``tanh(combine([h_t;
    c_t]))`` goes to ``out`` (Luong's attentional hidden state, without input feeding, so the
    whole target is one GRU call in training).

    ``tie_embeddings``: the decoder's input embedding and the output projection share one
    weight (Press & Wolf 2017; needs ``embed_size == hidden_size``).

    Shape: src (N, S), src_lengths (N,), tgt_in (N, T) -> logits (N, T, tgt_vocab_size).
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embed_size: int = 256,
                 hidden_size: int = 256, attention: str | None = None, dropout: float = 0.2,
                 pad_index: int = 0, tie_embeddings: bool = False) -> None:
        super().__init__()
        if attention not in (None, "none", "general", "dot"):
            raise ValueError(f"Seq2SeqGRU: attention must be None, 'general' or 'dot', got "
                             f"{attention!r}")
        attention = None if attention == "none" else attention
        self.config = dict(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
                           embed_size=embed_size, hidden_size=hidden_size, attention=attention,
                           dropout=dropout, pad_index=pad_index, tie_embeddings=tie_embeddings)
        h = hidden_size
        if tie_embeddings and embed_size != hidden_size:
            raise ValueError(f"Seq2SeqGRU: tie_embeddings needs embed_size == hidden_size, got "
                             f"{embed_size} and {hidden_size}")
        self.src_embed = nn.Embedding(src_vocab_size, embed_size, padding_idx=pad_index)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_size, padding_idx=pad_index)
        self.encoder = nn.GRU(embed_size, h, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * h, h)
        self.decoder = nn.GRU(embed_size, h, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.attention = self.key_proj = self.combine = None
        if attention == "general":  # score = h_t^T W e_j
            self.attention = nn.LuongAttention(h, 2 * h, score="general")
        elif attention == "dot":  # score = h_t^T (P e_j): the keys projected once, in encode
            self.key_proj = nn.Linear(2 * h, h, bias=False)
            self.attention = nn.LuongAttention(h, h, score="dot")
        if attention is not None:
            self.combine = nn.Linear(3 * h, h)
        self.out = nn.Linear(h, tgt_vocab_size)
        if tie_embeddings:  # one Parameter under two names, as in PyTorch
            self.out.weight = self.tgt_embed.weight

    def encode(self, src: Tensor, src_lengths: Any) -> dict:
        lens = np.asarray(src_lengths.data if isinstance(src_lengths, Tensor) else src_lengths)
        outputs, h_n = self.encoder(self.drop(self.src_embed(src)), lengths=lens)
        h0 = self.bridge(_shape.cat([h_n[0], h_n[1]], dim=-1)).tanh()  # (N, H)
        memory = {"h0": h0, "mask": _padding_mask(lens, src.shape[1]), "outputs": outputs}
        if self.key_proj is not None:
            memory["keys"] = self.key_proj(outputs)
        return memory

    def _head(self, dec: Tensor, memory: dict) -> tuple[Tensor, Tensor | None]:
        """(features that ``out`` projects, attention weights or None)."""
        if self.attention is None:
            return self.drop(dec), None
        keys = memory.get("keys", memory["outputs"])
        ctx, w = self.attention(dec, keys, memory["outputs"], key_padding_mask=memory["mask"])
        att = self.combine(_shape.cat([dec, ctx], dim=-1)).tanh()
        return self.drop(att), w

    def features(self, src: Tensor, src_lengths: Any, tgt_in: Tensor) -> Tensor:
        """(N, T, hidden_size): what the vocabulary projection ``out`` reads."""
        memory = self.encode(src, src_lengths)
        dec, _ = self.decoder(self.drop(self.tgt_embed(tgt_in)), memory["h0"].unsqueeze(0))
        return self._head(dec, memory)[0]

    def forward(self, src: Tensor, src_lengths: Any, tgt_in: Tensor) -> Tensor:
        return self.out(self.features(src, src_lengths, tgt_in))

    def start(self, memory: dict) -> Tensor:
        return memory["h0"].unsqueeze(0)  # (1, N, H)

    def step(self, prev_ids: np.ndarray, state: Tensor, memory: dict) -> tuple[Tensor, Tensor]:
        x = self.tgt_embed(Tensor._make(np.asarray(prev_ids, dtype=np.int64)[:, None]))
        dec, state = self.decoder(self.drop(x), state)
        return self.out(self._head(dec, memory)[0][:, 0]), state

    def select(self, state: Tensor, memory: dict, rows: np.ndarray) -> tuple[Tensor, dict]:
        return Tensor._make(state.data[:, rows]), {k: _rows(v, rows) for k, v in memory.items()}

    @no_grad()
    def cross_attention(self, src: Any, src_lengths: Any, tgt_in: Any) -> list[np.ndarray]:
        if self.attention is None:
            return []
        src, lens = self._check_src(src, src_lengths)
        memory = self.encode(src, lens)
        tgt = tgt_in if isinstance(tgt_in, Tensor) else Tensor._make(np.asarray(tgt_in))
        dec, _ = self.decoder(self.tgt_embed(tgt), memory["h0"].unsqueeze(0))
        return [self._head(dec, memory)[1].data]


class TransformerTranslator(Seq2Seq):
    """A small encoder-decoder Transformer: embeddings scaled by sqrt(d_model) plus sinusoidal
    positions, ``nn.Transformer`` (pre-norm by default: steadier with few steps of training),
    and a projection to the target vocabulary. Padding is masked in every attention (source
    keys, target keys) and the decoder's self-attention is causal.

    Decoding runs one new position per step through the decoder; each layer keeps the inputs of
    the earlier positions, so its self-attention needs no recomputation of the prefix.

    ``tie_embeddings``: the target embedding and the output projection share one weight
    (Press & Wolf 2017), initialised N(0, 1/d_model) as in Vaswani et al.'s shared embeddings
    (N(0, 1) times sqrt(d_model) would start the logits far too large).

    Shape: src (N, S), src_lengths (N,), tgt_in (N, T) -> logits (N, T, tgt_vocab_size).
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 256,
                 nhead: int = 4, num_encoder_layers: int = 3, num_decoder_layers: int = 3,
                 dim_feedforward: int = 512, dropout: float = 0.1, max_len: int = 128,
                 norm_first: bool = True, pad_index: int = 0,
                 tie_embeddings: bool = False) -> None:
        super().__init__()
        self.config = dict(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
                           d_model=d_model, nhead=nhead, num_encoder_layers=num_encoder_layers,
                           num_decoder_layers=num_decoder_layers,
                           dim_feedforward=dim_feedforward, dropout=dropout, max_len=max_len,
                           norm_first=norm_first, pad_index=pad_index,
                           tie_embeddings=tie_embeddings)
        self.src_embed = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_index)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_index)
        self.pos = nn.PositionalEncoding(d_model, dropout, max_len, batch_first=True)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                          dim_feedforward, dropout, batch_first=True,
                                          norm_first=norm_first)
        self.out = nn.Linear(d_model, tgt_vocab_size)
        if tie_embeddings:  # one Parameter under two names, as in PyTorch
            self.out.weight = self.tgt_embed.weight
            nn.init.normal_(self.out.weight, 0.0, d_model ** -0.5)
            self.out.weight.data[pad_index] = 0.0
        self.scale = math.sqrt(d_model)
        self.pad_index = pad_index

    def _embed(self, emb: nn.Embedding, ids: Tensor) -> Tensor:
        return self.pos(emb(ids) * self.scale)

    def encode(self, src: Tensor, src_lengths: Any) -> dict:
        mask = _padding_mask(src_lengths, src.shape[1])
        mem = self.transformer.encoder(self._embed(self.src_embed, src),
                                       src_key_padding_mask=mask)
        return {"memory": mem, "mask": mask}

    def _decode(self, tgt_in: Tensor, memory: dict) -> Tensor:
        t = tgt_in.shape[1]
        causal = nn.Transformer.generate_square_subsequent_mask(t, dtype=memory["memory"].dtype)
        tpm = np.asarray(tgt_in.data == self.pad_index)
        tpm[:, 0] = False  # <bos> is never padding (it may share the id in odd vocabularies)
        return self.transformer.decoder(self._embed(self.tgt_embed, tgt_in), memory["memory"],
                                        tgt_mask=causal, tgt_key_padding_mask=tpm,
                                        memory_key_padding_mask=memory["mask"])

    def features(self, src: Tensor, src_lengths: Any, tgt_in: Tensor) -> Tensor:
        """(N, T, d_model): the decoder's output, what the vocabulary projection ``out`` reads."""
        return self._decode(tgt_in, self.encode(src, src_lengths))

    def forward(self, src: Tensor, src_lengths: Any, tgt_in: Tensor) -> Tensor:
        return self.out(self.features(src, src_lengths, tgt_in))

    def start(self, memory: dict) -> dict:
        """The decoding state: the position, and per decoder layer the inputs it has seen."""
        return {"t": 0, "inputs": [None] * len(self.transformer.decoder.layers)}

    def step(self, prev_ids: np.ndarray, state: dict, memory: dict) -> tuple:
        """One position: only the new token runs through each layer; its self-attention reads
        the cached inputs of the earlier positions (the causal mask, without recomputing them)."""
        t, dec = state["t"], self.transformer.decoder
        ids = Tensor._make(np.asarray(prev_ids, np.int64)[:, None])
        pe = self.pos.pe.data[t].astype(self.tgt_embed.weight.dtype, copy=False)
        x = self.pos.dropout(self.tgt_embed(ids) * self.scale + pe)  # (N, 1, d)
        mem, mmask = memory["memory"], memory["mask"]
        inputs = []
        for layer, past in zip(dec.layers, state["inputs"]):
            seq = x if past is None else _shape.cat([past, x], dim=1)  # (N, t + 1, d)
            inputs.append(seq)
            if layer.norm_first:
                kv = layer.norm1(seq)
                att = layer.self_attn(kv[:, -1:], kv, kv, need_weights=False)[0]
                h = x + layer.dropout1(att)
                h = h + layer._mha_block(layer.norm2(h), mem, None, mmask)
                x = h + layer._ff_block(layer.norm3(h))
            else:
                att = layer.self_attn(x, seq, seq, need_weights=False)[0]
                h = layer.norm1(x + layer.dropout1(att))
                h = layer.norm2(h + layer._mha_block(h, mem, None, mmask))
                x = layer.norm3(h + layer._ff_block(h))
        if dec.norm is not None:
            x = dec.norm(x)
        return self.out(x[:, 0]), {"t": t + 1, "inputs": inputs}

    def select(self, state: dict, memory: dict, rows: np.ndarray) -> tuple:
        inputs = [None if a is None else Tensor._make(a.data[rows]) for a in state["inputs"]]
        return {"t": state["t"], "inputs": inputs}, {k: _rows(v, rows) for k, v in memory.items()}

    @no_grad()
    def cross_attention(self, src: Any, src_lengths: Any, tgt_in: Any) -> list[np.ndarray]:
        """Per decoder layer, the encoder-decoder attention weights (N, heads, T, S)."""
        src, lens = self._check_src(src, src_lengths)
        memory = self.encode(src, lens)
        tgt = tgt_in if isinstance(tgt_in, Tensor) else Tensor._make(np.asarray(tgt_in))
        t = tgt.shape[1]
        causal = nn.Transformer.generate_square_subsequent_mask(t)
        x = self._embed(self.tgt_embed, tgt)
        mem, mmask = memory["memory"], memory["mask"]
        maps = []
        for layer in self.transformer.decoder.layers:
            if layer.norm_first:
                q = layer.norm2(x + layer._sa_block(layer.norm1(x), causal, None))
            else:
                q = layer.norm1(x + layer._sa_block(x, causal, None))
            _, w = layer.multihead_attn(q, mem, mem, key_padding_mask=mmask,
                                        average_attn_weights=False)
            maps.append(w.data)
            x = layer(x, mem, tgt_mask=causal, memory_key_padding_mask=mmask)
        return maps
