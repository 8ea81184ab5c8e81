"""Attention layers: MultiheadAttention (PyTorch's), sinusoidal positional encoding, and the
additive (Bahdanau) and multiplicative (Luong) attention of RNN encoder-decoders.

Every layer computes ``weights = softmax(scores)`` over the keys and ``context = weights @ values``;
they differ in the score: scaled dot products of projected heads (multi-head), ``v^T tanh(W q +
U k)`` (Bahdanau et al. 2015), ``q^T W k`` or ``q^T k`` (Luong et al. 2015).

Mask conventions are PyTorch's: for these layers a boolean mask is True where a key is **masked
out** (padding, the future); a float mask is added to the scores.
(``F.scaled_dot_product_attention`` takes the opposite boolean: True = attend.) One difference:
a query whose keys are all masked gets zero weights and a zero context here, where
``torch.nn.MultiheadAttention`` returns NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import ShapeError
from ..ops import activation as _act
from ..ops import arith as _arith
from ..ops import attention as _attention
from ..ops import linalg as _linalg
from ..ops import shape as _shape
from ..tensor import Tensor
from . import init
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .parameter import Parameter

__all__ = ["MultiheadAttention", "PositionalEncoding", "BahdanauAttention", "LuongAttention",
           "sinusoidal_encoding"]


def _dt(dtype: Any) -> np.dtype:
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _mask_bias(mask: Any, what: str, dtype: Any) -> Any:
    """A "True = masked out" bool mask as a 0/-inf float array; a float mask as it is (a Tensor
    that requires grad stays a Tensor); None stays None."""
    if mask is None:
        return None
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == bool:
        return backend.get_array_module(m).where(m, -np.inf, 0).astype(dtype)
    if m.dtype.kind == "f":
        if isinstance(mask, Tensor) and mask.requires_grad:
            return mask
        return m.astype(dtype, copy=False)
    raise TypeError(f"{what} must be bool (True = masked out) or float (added to the scores), "
                    f"got {m.dtype}")


def _add(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(b, Tensor) and not isinstance(a, Tensor):
        a, b = b, a
    return a + b


def _pad_col(bias: Any) -> Any:
    """Add one unmasked key column (an appended bias_k / zero key) to a bias (..., S)."""
    if bias is None:
        return None
    if isinstance(bias, Tensor):
        return _shape.pad(bias, (0, 1))
    xp = backend.get_array_module(bias)
    return xp.concatenate([bias, xp.zeros(bias.shape[:-1] + (1,), bias.dtype)], axis=-1)


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017), PyTorch's ``nn.MultiheadAttention``:
    ``out_proj(concat_h softmax(q_h k_h^T / sqrt(d) + mask) v_h)``, with ``q_h, k_h, v_h`` the
    heads of the projected query, key and value.

    Parameters (PyTorch's names and layouts, so its state dicts load): ``in_proj_weight`` (3E, E)
    and ``in_proj_bias`` (3E,) when key and value have the embedding size; otherwise
    ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) and
    ``in_proj_bias``; ``out_proj`` (a Linear E -> E); ``bias_k``, ``bias_v`` (1, 1, E) with
    ``add_bias_kv``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(attn_output, attn_weights)``
    (weights None unless ``need_weights``). Masks: ``key_padding_mask`` (N, S), True = padding;
    ``attn_mask`` (L, S) or (N * num_heads, L, S), True = not allowed; float masks are added.
    ``is_causal`` is a hint that ``attn_mask`` is the causal mask (it must be given, as in PyTorch).

    Shape:
        query: (L, N, E), or (N, L, E) with ``batch_first``, or (L, E) unbatched.
        key: (S, N, kdim); value: (S, N, vdim) (batch first likewise).
        attn_output: like query. attn_weights: (N, L, S) averaged over the heads, or
        (N, num_heads, L, S) with ``average_attn_weights=False``.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> mha = nn.MultiheadAttention(8, 2, batch_first=True)
    >>> x = dw.randn(3, 5, 8)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be > 0, got "
                             f"{embed_dim} and {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        dt = _dt(dtype)
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.kdim = int(kdim) if kdim is not None else self.embed_dim
        self.vdim = int(vdim) if vdim is not None else self.embed_dim
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * e, e), dt))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(np.empty((e, e), dt))
            self.k_proj_weight = Parameter(np.empty((e, self.kdim), dt))
            self.v_proj_weight = Parameter(np.empty((e, self.vdim), dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.empty((3 * e,), dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(e, e, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, e), dt))
            self.bias_v = Parameter(np.empty((1, 1, e), dt))
        else:
            self.bias_k = self.bias_v = None
        self.reset_parameters()
        if device is not None:  # made on the host, moved once (PyTorch's device=)
            self.to(device)

    def reset_parameters(self) -> None:
        """Glorot & Bengio (2010) uniform for the input projections, zero biases, the output
        projection as a Linear (its bias zeroed), Glorot normal for ``bias_k``/``bias_v``."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        e, b = self.embed_dim, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:  # self-attention: one GEMM for q, k and v
                return _shape.chunk(_linalg.linear(query, w, b), 3, dim=-1)
            wq, wk, wv = w[:e], w[e:2 * e], w[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return (_linalg.linear(query, wq, bq), _linalg.linear(key, wk, bk),
                _linalg.linear(value, wv, bv))

    def _check(self, query: Tensor, key: Tensor, value: Tensor) -> bool:
        sq, sk, sv = tuple(query.shape), tuple(key.shape), tuple(value.shape)
        if len(sq) not in (2, 3) or len(sk) != len(sq) or len(sv) != len(sq):
            raise ShapeError(f"query, key and value must all be 3-D (batched) "
                             f"or all 2-D (unbatched), got {sq}, {sk} and {sv}")
        if sq[-1] != self.embed_dim or sk[-1] != self.kdim or sv[-1] != self.vdim:
            raise ShapeError(f"expected query (..., {self.embed_dim}), key "
                             f"(..., {self.kdim}), value (..., {self.vdim}); got {sq}, {sk}, {sv}")
        seq = 1 if self.batch_first and len(sq) == 3 else 0
        if sk[:-1] != sv[:-1]:
            raise ShapeError(f"key {sk} and value {sv} must have the same "
                             "batch and sequence sizes")
        if len(sq) == 3 and sq[1 - seq] != sk[1 - seq]:
            raise ShapeError(f"query {sq} and key {sk} have different batch "
                             f"sizes (batch_first={self.batch_first})")
        return len(sq) == 2

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is a hint that attn_mask is the "
                             "causal mask; pass attn_mask too (as in PyTorch), e.g. "
                             "nn.Transformer.generate_square_subsequent_mask(L)")
        unbatched = self._check(query, key, value)
        same = query is key and key is value
        if unbatched:  # (L, E) -> (1, L, E)
            query, key, value = (_shape.unsqueeze(t, 0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _shape.unsqueeze(key_padding_mask, 0) if isinstance(
                    key_padding_mask, Tensor) else np.asarray(key_padding_mask)[None]
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (_shape.transpose(t, 0, 1) for t in (query, key, value))
        if same:
            key = value = query
        n, n_l, n_s = query.shape[0], query.shape[1], key.shape[1]
        h, d = self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        dt = q.dtype
        bias = None
        if attn_mask is not None:
            m = _mask_bias(attn_mask, "attn_mask", dt)
            ms = tuple(m.shape)
            if ms == (n_l, n_s):
                pass
            elif ms == (n * h, n_l, n_s):
                m = m.reshape(n, h, n_l, n_s)
            else:
                raise ShapeError(f"attn_mask must be (L, S) = ({n_l}, {n_s}) "
                                 f"or (N * num_heads, L, S) = ({n * h}, {n_l}, {n_s}), got {ms}")
            bias = m
        if key_padding_mask is not None:
            m = _mask_bias(key_padding_mask, "key_padding_mask", dt)
            if tuple(m.shape) != (n, n_s):
                raise ShapeError(f"key_padding_mask must be (N, S) = "
                                 f"({n}, {n_s}), got {tuple(m.shape)}")
            bias = _add(bias, m.reshape(n, 1, 1, n_s))
        if self.bias_k is not None:  # one learned key/value appended to every sequence
            k = _shape.cat([k, _shape.expand(self.bias_k, n, 1, self.embed_dim)], dim=1)
            v = _shape.cat([v, _shape.expand(self.bias_v, n, 1, self.embed_dim)], dim=1)
            bias = _pad_col(bias)
        # heads: (N, T, E) -> (N, H, T, d)
        q, k, v = (_shape.transpose(t.reshape(n, t.shape[1], h, d), 1, 2) for t in (q, k, v))
        if self.add_zero_attn:  # one all-zero key/value appended after the projections
            k = _shape.pad(k, (0, 0, 0, 1))
            v = _shape.pad(v, (0, 0, 0, 1))
            bias = _pad_col(bias)
        p = self.dropout if self.training else 0.0
        out = _attention.ScaledDotProductAttention.apply(
            q, k, v, bias, scale=1.0 / math.sqrt(d), dropout_p=p, need_weights=need_weights)
        weights = None
        if need_weights:
            out, weights = out
            if average_attn_weights:
                weights = weights.mean(dim=1)
        out = self.out_proj(_shape.transpose(out, 1, 2).reshape(n, n_l, self.embed_dim))
        if unbatched:
            out = _shape.squeeze(out, 0)
            weights = None if weights is None else _shape.squeeze(weights, 0)
        elif not self.batch_first:
            out = _shape.transpose(out, 0, 1)
        return out, weights

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if not self._qkv_same_embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s + f", batch_first={self.batch_first}"

    def short_repr(self) -> str:
        return f"MultiheadAttention {self.embed_dim}x{self.num_heads}h"


def sinusoidal_encoding(length: int, d_model: int, dtype: Any = None) -> np.ndarray:
    """The (length, d_model) table of Vaswani et al. (2017): PE[t, 2i] = sin(t / 10000^(2i/d)),
    PE[t, 2i+1] = cos(t / 10000^(2i/d)); each dimension a sinusoid of its own wavelength, so a
    fixed offset is a linear function of the encoding."""
    if length < 0 or d_model <= 0:
        raise ValueError(f"sinusoidal_encoding: need length >= 0 and d_model > 0, got {length} "
                         f"and {d_model}")
    pos = np.arange(length, dtype=np.float64)[:, None]
    div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
    pe = np.zeros((length, d_model))
    pe[:, 0::2] = np.sin(pos * div)
    pe[:, 1::2] = np.cos(pos * div[: d_model // 2])
    return pe.astype(_dt(dtype))


class PositionalEncoding(Module):
    """Adds the sinusoidal position table to a sequence of embeddings, then dropout (the
    PyTorch tutorial's ``PositionalEncoding``, with ``batch_first``). Buffer: ``pe``
    (max_len, d_model). No parameters.

    Shape:
        Input: (T, N, d_model), or (N, T, d_model) with ``batch_first``; T <= max_len.
        Output: the same.

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.PositionalEncoding(16, dropout=0.0, batch_first=True)(dw.zeros(2, 7, 16)).shape
    (2, 7, 16)
    """

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000,
                 batch_first: bool = False, dtype: Any = None) -> None:
        super().__init__()
        self.d_model, self.max_len, self.batch_first = int(d_model), int(max_len), batch_first
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", Tensor._make(sinusoidal_encoding(max_len, d_model, dtype)))

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        t_axis = 1 if self.batch_first else 0
        if len(shape) != 3 or shape[-1] != self.d_model:
            order = "(N, T, d_model)" if self.batch_first else "(T, N, d_model)"
            raise ShapeError(f"expected input {order} with d_model = {self.d_model}, got {shape}")
        t = shape[t_axis]
        if t > self.max_len:
            raise ShapeError(f"sequence length {t} is longer than max_len = {self.max_len}")
        pe = self.pe.data[:t]
        pe = pe[None] if self.batch_first else pe[:, None]
        return self.dropout(x + pe.astype(x.dtype, copy=False))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


def _rnn_inputs(query: Tensor, keys: Tensor, values: Tensor | None, mask: Any,
                dims: tuple[int, int]) -> tuple:
    """Batch the query to (N, L, Dq), check the keys (N, S, Dk) and the mask (N, S)."""
    dq, dk = dims
    single = query.ndim == 2
    if single:
        query = _shape.unsqueeze(query, 1)
    values = keys if values is None else values
    sq, sk, sv = tuple(query.shape), tuple(keys.shape), tuple(values.shape)
    if len(sq) != 3 or sq[-1] != dq:
        raise ShapeError(f"expected query (N, {dq}) or (N, L, {dq}), got {tuple(sq)}")
    if len(sk) != 3 or sk[-1] != dk or sk[0] != sq[0]:
        raise ShapeError(f"expected keys (N, S, {dk}) with N = {sq[0]}, got {sk}")
    if len(sv) != 3 or sv[:2] != sk[:2]:
        raise ShapeError(f"values must be (N, S, Dv) with (N, S) = {sk[:2]}, got {sv}")
    if mask is not None:
        m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if m.dtype != bool or m.shape != sk[:2]:
            raise ShapeError(f"key_padding_mask must be bool (N, S) = {sk[:2]} (True = padding), "
                             f"got {m.dtype} {m.shape}")
        mask = m
    return query, values, mask, single


def _attend(scores: Tensor, values: Tensor, mask: Any, single: bool) -> tuple:
    """softmax over the keys (padding removed), then the weighted sum of the values."""
    if mask is not None:
        scores = _arith.masked_fill(scores, mask[:, None, :], -np.inf)
    w = _act.softmax(scores, dim=-1)
    ctx = _linalg.matmul(w, values)
    if single:
        return _shape.squeeze(ctx, 1), _shape.squeeze(w, 1)
    return ctx, w


class BahdanauAttention(Module):
    """Additive attention (Bahdanau, Cho & Bengio 2015): ``score(q, k_j) = v^T tanh(W_q q +
    W_k k_j)``, ``weights = softmax_j(score)``, ``context = sum_j weights_j value_j``.

    Parameters: ``query_proj`` (Linear query_size -> hidden_size, no bias), ``key_proj``
    (Linear key_size -> hidden_size), ``v`` (Linear hidden_size -> 1, no bias).

    ``forward(query, keys, values=None, key_padding_mask=None)`` -> ``(context, weights)``;
    values default to the keys; mask True = padding (every query needs one unmasked key).

    Shape:
        query: (N, query_size) (one decoder step) or (N, L, query_size).
        keys: (N, S, key_size); values: (N, S, Dv).
        context: (N, Dv) or (N, L, Dv); weights: (N, S) or (N, L, S).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> att = nn.BahdanauAttention(6, 4, 5)
    >>> ctx, w = att(dw.randn(2, 6), dw.randn(2, 3, 4))
    >>> ctx.shape, w.shape
    ((2, 4), (2, 3))
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int,
                 dtype: Any = None) -> None:
        super().__init__()
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.query_proj = Linear(query_size, hidden_size, bias=False, dtype=dtype)
        self.key_proj = Linear(key_size, hidden_size, dtype=dtype)
        self.v = Linear(hidden_size, 1, bias=False, dtype=dtype)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None,
                key_padding_mask: Any = None) -> tuple:
        query, values, mask, single = _rnn_inputs(query, keys, values, key_padding_mask,
                                                  (self.query_size, self.key_size))
        hq = _shape.unsqueeze(self.query_proj(query), 2)  # (N, L, 1, H)
        hk = _shape.unsqueeze(self.key_proj(keys), 1)  # (N, 1, S, H)
        scores = _shape.squeeze(self.v(_act.tanh(hq + hk)), -1)  # (N, L, S)
        return _attend(scores, values, mask, single)

    def extra_repr(self) -> str:
        return (f"query_size={self.query_size}, key_size={self.key_size}, "
                f"hidden_size={self.hidden_size}")


class LuongAttention(Module):
    """Multiplicative attention (Luong, Pham & Manning 2015): ``score(q, k_j) = q^T W k_j``
    ("general") or ``q^T k_j`` ("dot"), then softmax over the keys and the weighted sum of the
    values. The scores of all L queries are one batched matmul (the fused attention op).

    Parameters: ``weight`` (query_size, key_size) for "general"; none for "dot".

    ``forward(query, keys, values=None, key_padding_mask=None)`` -> ``(context, weights)``,
    as :class:`BahdanauAttention`.

    Shape:
        query: (N, query_size) or (N, L, query_size); keys (N, S, key_size); values (N, S, Dv).
        context: (N, Dv) or (N, L, Dv); weights: (N, S) or (N, L, S).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> att = nn.LuongAttention(6, 4)
    >>> ctx, w = att(dw.randn(2, 5, 6), dw.randn(2, 3, 4))
    >>> ctx.shape, w.shape
    ((2, 5, 4), (2, 5, 3))
    """

    def __init__(self, query_size: int, key_size: int | None = None, score: str = "general",
                 dtype: Any = None) -> None:
        super().__init__()
        key_size = query_size if key_size is None else key_size
        if score not in ("general", "dot"):
            raise ValueError(f"LuongAttention: score must be 'general' or 'dot', got {score!r}")
        if score == "dot" and key_size != query_size:
            raise ValueError(f"LuongAttention: the 'dot' score needs key_size == query_size, got "
                             f"{key_size} and {query_size}")
        self.query_size, self.key_size, self.score = query_size, key_size, score
        if score == "general":
            self.weight = Parameter(np.empty((query_size, key_size), _dt(dtype)))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot & Bengio (2010) uniform for ``weight``."""
        if self.weight is not None:
            init.xavier_uniform_(self.weight)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None,
                key_padding_mask: Any = None) -> tuple:
        query, values, mask, single = _rnn_inputs(query, keys, values, key_padding_mask,
                                                  (self.query_size, self.key_size))
        k = keys if self.weight is None else _linalg.linear(keys, self.weight)  # W k_j
        bias = None if mask is None else backend.get_array_module(mask).where(
            mask, -np.inf, 0).astype(query.dtype)[:, None]
        ctx, w = _attention.ScaledDotProductAttention.apply(query, k, values, bias, scale=1.0,
                                                            need_weights=True)
        if single:
            return _shape.squeeze(ctx, 1), _shape.squeeze(w, 1)
        return ctx, w

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, score={self.score!r}"
