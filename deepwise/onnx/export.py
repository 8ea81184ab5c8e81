"""``deepwise.onnx.export``: a model to an ONNX file, by running it once and recording its layers.

How it works, in one screen:

1. The model runs once on ``args`` (in eval mode; grad recording on, the float inputs made to
   require grad so that every op downstream is recorded). Global module hooks see each call of
   a layer this exporter knows (Linear, Conv, pooling, BatchNorm, LayerNorm, activations,
   Dropout, Flatten, Embedding, LSTM, GRU ...) with its input and output tensors; the ops run
   *between* layers (``x.view(...)``, ``torch.flatten``, ``a + b``, ``F.relu``) are seen through
   autograd's forward observer.
2. Each recorded step becomes ONNX nodes, wired by the identity of the tensors that flowed
   (a tensor's name is ``t<id>`` until it is an input or output); weights become initializers.
   PyTorch's layouts are converted where ONNX's differ: LSTM gates (i, f, g, o) -> (i, o, f, c),
   GRU gates (r, z, n) -> (z, r, h) with ``linear_before_reset=1``. MultiheadAttention is
   written out as its math (projections, heads, ``softmax(q k^T / sqrt(d) + mask) v``, output
   projection); its masks, passed as keyword arguments, are caught by a wrapper of its forward
   during the export and become constants. Transformer encoder/decoder layers are the sum of
   their parts: attention, Linear, LayerNorm, Dropout layers and the residual additions.
3. ``dynamic_axes`` names the axes that may change size (``{"x": {0: "batch"}}``); the reshapes
   recorded keep such an axis as it is (``0`` in ONNX's Reshape) rather than baking its size in.

Needs the ``onnx`` package (``pip install onnx``); nothing else from ONNX runs here.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from .. import autograd, nn
from ..io import atomic_path
from ..nn import module as _module
from ..ops import activation as _act
from ..ops import arith as _arith
from ..ops import linalg as _linalg
from ..ops import shape as _shape
from ..tensor import Tensor

__all__ = ["export", "ExportError"]

OPSET = 17


class ExportError(ValueError):
    """The model holds something the exporter cannot write (the message says what and where)."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as e:
        raise ImportError("deepwise.onnx.export needs the onnx package: pip install onnx") from e
    return onnx


_LEAVES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
           nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.ReLU, nn.Tanh, nn.Sigmoid,
           nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Softplus, nn.Softmax, nn.LogSoftmax,
           nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Identity, nn.Embedding, nn.LSTM, nn.GRU,
           nn.MultiheadAttention)


class _Graph:
    """ONNX nodes and initializers under construction, and the tensor -> name map."""

    def __init__(self, onnx: Any) -> None:
        self.onnx, self.h = onnx, onnx.helper
        self.nodes: list = []
        self.inits: list = []
        self.names: dict[int, str] = {}
        self.calls: dict[int, list] = {}  # MultiheadAttention -> its calls' bound arguments
        self.keep: list = []  # the traced tensors stay alive, so their ids stay unique
        self.k = 0

    def fresh(self, stem: str) -> str:
        self.k += 1
        return f"{stem}_{self.k}"

    def name(self, t: Any, where: str) -> str:
        if id(t) not in self.names and isinstance(t, Tensor) and t.grad_fn is None:
            # a leaf that is not an input: a parameter, buffer or constant - an initializer
            self.bind(t, self.const(t.data, "const"))
        if id(t) not in self.names:
            raise ExportError(f"onnx.export: {where} takes a tensor that comes from no recorded "
                              f"input or layer (shape {tuple(getattr(t, 'shape', ()))}); it is "
                              "made by an op this exporter does not record")
        return self.names[id(t)]

    def bind(self, t: Any, name: str) -> None:
        self.names[id(t)] = name
        self.keep.append(t)

    def const(self, arr: Any, stem: str) -> str:
        name = self.fresh(stem)
        arr = np.asarray(arr)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str] | None = None,
             **attrs: Any) -> list[str]:
        outputs = outputs or [self.fresh(op.lower())]
        self.nodes.append(self.h.make_node(op, inputs, outputs, **attrs))
        return outputs


def _pads(padding: Any, nd: int) -> list[int]:
    p = (padding,) * nd if isinstance(padding, int) else tuple(padding)
    return list(p) + list(p)


def _tup(v: Any, nd: int) -> list[int]:
    return [int(v)] * nd if isinstance(v, (int, np.integer)) else [int(x) for x in v]


def _rnn(g: _Graph, m: Any, x: str, out: Any, batch_first: bool) -> None:
    """LSTM / GRU, layer by layer (ONNX's LSTM/GRU are one layer each), gates reordered."""
    lstm = isinstance(m, nn.LSTM)
    dirs = 2 if m.bidirectional else 1
    hsz = m.hidden_size
    order = ([0, 3, 1, 2] if lstm else [1, 0, 2])  # ONNX: iofc from PyTorch ifgo; zrh from rzn
    cur = g.node("Transpose", [x], perm=[1, 0, 2])[0] if batch_first else x
    hs, cs = [], []
    for layer in range(m.num_layers):
        ws, rs, bs = [], [], []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = (getattr(m, f"weight_ih{sfx}").data, getattr(m, f"weight_hh{sfx}").data)
            b_ih = getattr(m, f"bias_ih{sfx}", None)
            b_hh = getattr(m, f"bias_hh{sfx}", None)
            b_ih = np.zeros(w_ih.shape[0], w_ih.dtype) if b_ih is None else b_ih.data
            b_hh = np.zeros(w_hh.shape[0], w_hh.dtype) if b_hh is None else b_hh.data

            def re(a: np.ndarray) -> np.ndarray:
                return np.concatenate([a.reshape(len(order), hsz, *a.shape[1:])[k]
                                       for k in order])
            ws.append(re(w_ih))
            rs.append(re(w_hh))
            bs.append(np.concatenate([re(b_ih), re(b_hh)]))
        op = "LSTM" if lstm else "GRU"
        attrs = {"hidden_size": hsz, "direction": "bidirectional" if dirs == 2 else "forward"}
        if not lstm:
            attrs["linear_before_reset"] = 1
        outs = [g.fresh("y"), g.fresh("y_h")] + ([g.fresh("y_c")] if lstm else [])
        g.node(op, [cur, g.const(np.stack(ws), "W"), g.const(np.stack(rs), "R"),
                    g.const(np.stack(bs), "B")], outs, **attrs)
        hs.append(outs[1])
        if lstm:
            cs.append(outs[2])
        # Y (T, dirs, B, H) -> (T, B, dirs * H)
        y = g.node("Transpose", [outs[0]], perm=[0, 2, 1, 3])[0]
        cur = g.node("Reshape", [y, g.const(np.array([0, 0, -1], np.int64), "shape")])[0]
    seq, state = out
    final = g.node("Transpose", [cur], perm=[1, 0, 2])[0] if batch_first else cur
    g.bind(seq, final)
    h_n = g.node("Concat", hs, axis=0)[0] if len(hs) > 1 else hs[0]
    if lstm:
        c_n = g.node("Concat", cs, axis=0)[0] if len(cs) > 1 else cs[0]
        g.bind(state[0], h_n)
        g.bind(state[1], c_n)
    else:
        g.bind(state, h_n)


def _mask_const(g: _Graph, mask: Any, dt: np.dtype, shape: tuple, what: str, path: str,
                extra: int = 0) -> str:
    """An attention mask as an additive constant: bool True -> -inf, a float mask as it is;
    ``extra`` unmasked key columns appended (the keys add_bias_kv / add_zero_attn append)."""
    m = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if isinstance(mask, Tensor) and mask.requires_grad:
        raise ExportError(f"onnx.export: {path}: a {what} that requires grad is not exported")
    m = np.where(m, -np.inf, 0).astype(dt) if m.dtype == bool else m.astype(dt)
    m = m.reshape(shape)
    if extra:
        m = np.concatenate([m, np.zeros(shape[:-1] + (extra,), dt)], axis=-1)
    return g.const(m, what)


def _append_keys(g: _Graph, x: str, row: str, axis: int) -> str:
    """``x`` with one more entry along ``axis``: ``row`` (1 wherever it is broadcast), expanded
    to x's other sizes, whatever their (dynamic) values."""
    lead = g.node("Shape", [x], start=0, end=axis)[0]
    tail = g.node("Shape", [x], start=axis + 1)[0]
    shape = g.node("Concat", [lead, g.const(np.array([1], np.int64), "one"), tail], axis=0)[0]
    return g.node("Concat", [x, g.node("Expand", [row, shape])[0]], axis=axis)[0]


def _mha(g: _Graph, m: Any, call: Any, out: Any, path: str) -> None:
    """MultiheadAttention in eval mode as ONNX nodes: per head ``softmax(q k^T s + mask) v``,
    with add_bias_kv's learned key/value and add_zero_attn's zero key/value appended, and
    unbatched (L, E) inputs as a batch of one. Sequence lengths and the batch stay free
    (Reshape's 0 copies an axis) unless a mask of fixed size is given."""
    a = call.arguments
    q_t, k_t, v_t = a["query"], a["key"], a["value"]
    e, h, d = m.embed_dim, m.num_heads, m.head_dim
    dt = q_t.data.dtype
    unbatched = q_t.ndim == 2
    names = [g.name(t, path) for t in (q_t, k_t, v_t)]
    if unbatched:  # (L, E) -> (1, L, E)
        axes = g.const(np.array([0], np.int64), "axes")
        names = [g.node("Unsqueeze", [n, axes])[0] for n in names]
    elif not m.batch_first:  # (L, N, E) -> (N, L, E)
        names = [g.node("Transpose", [n], perm=[1, 0, 2])[0] for n in names]
    b = m.in_proj_bias.data if m.in_proj_bias is not None else None
    if m._qkv_same_embed_dim:
        w = m.in_proj_weight.data
        ws = (w[:e], w[e:2 * e], w[2 * e:])
    else:
        ws = (m.q_proj_weight.data, m.k_proj_weight.data, m.v_proj_weight.data)
    heads = []
    for j, (n, wj) in enumerate(zip(names, ws)):
        y = g.node("MatMul", [n, g.const(wj.T, "W")])[0]
        if b is not None:
            y = g.node("Add", [y, g.const(b[j * e:(j + 1) * e], "b")])[0]
        if j and m.bias_k is not None:  # the learned key / value, one more position: (N, S+1, E)
            learned = (m.bias_k if j == 1 else m.bias_v).data.reshape(1, 1, e)
            y = _append_keys(g, y, g.const(learned, "bias_kv"), axis=1)
        y = g.node("Reshape", [y, g.const(np.array([0, 0, h, d], np.int64), "shape")])[0]
        # q, v: (N, H, T, d); k: (N, H, d, S) (transposed for q k^T)
        heads.append(g.node("Transpose", [y], perm=[0, 2, 3, 1] if j == 1 else [0, 2, 1, 3])[0])
    if m.add_zero_attn:  # a zero key and value after the projections
        heads[1] = _append_keys(g, heads[1], g.const(np.zeros((1, 1, 1, 1), dt), "zero"), 3)
        heads[2] = _append_keys(g, heads[2], g.const(np.zeros((1, 1, 1, d), dt), "zero"), 2)
    extra = int(m.bias_k is not None) + int(m.add_zero_attn)
    s = g.node("MatMul", heads[:2])[0]
    s = g.node("Mul", [s, g.const(np.array(1.0 / np.sqrt(d), dt), "scale")])[0]
    if unbatched:
        n_b, n_l, n_s = 1, q_t.shape[0], k_t.shape[0]
    else:
        n_b, n_l, n_s = (q_t.shape[0 if m.batch_first else 1],
                         q_t.shape[1 if m.batch_first else 0], k_t.shape[1 if m.batch_first else 0])
    if a["attn_mask"] is not None:
        am = a["attn_mask"]
        shape = (n_l, n_s) if tuple(am.shape) == (n_l, n_s) else (n_b, h, n_l, n_s)
        s = g.node("Add", [s, _mask_const(g, am, dt, shape, "attn_mask", path, extra)])[0]
    if a["key_padding_mask"] is not None:
        s = g.node("Add", [s, _mask_const(g, a["key_padding_mask"], dt, (n_b, 1, 1, n_s),
                                          "key_padding_mask", path, extra)])[0]
    p = g.node("Softmax", [s], axis=-1)[0]
    o = g.node("Transpose", [g.node("MatMul", [p, heads[2]])[0]], perm=[0, 2, 1, 3])[0]
    o = g.node("Reshape", [o, g.const(np.array([0, 0, e], np.int64), "shape")])[0]
    o = g.node("MatMul", [o, g.const(m.out_proj.weight.data.T, "W")])[0]
    if m.out_proj.bias is not None:
        o = g.node("Add", [o, g.const(m.out_proj.bias.data, "b")])[0]
    weights = None
    if out[1] is not None:
        weights = (g.node("ReduceMean", [p], axes=[1], keepdims=0)[0]
                   if a["average_attn_weights"] else p)
    if unbatched:  # back to (L, E); weights (L, S) or (H, L, S)
        axes = g.const(np.array([0], np.int64), "axes")
        o = g.node("Squeeze", [o, axes])[0]
        weights = None if weights is None else g.node("Squeeze", [weights, axes])[0]
    elif not m.batch_first:
        o = g.node("Transpose", [o], perm=[1, 0, 2])[0]
    g.bind(out[0], o)
    if out[1] is not None:
        g.bind(out[1], weights)


def _layer(g: _Graph, m: Any, args: tuple, out: Any, path: str) -> None:
    """The ONNX nodes of one known layer ``m`` called on ``args`` giving ``out``."""
    if isinstance(m, nn.MultiheadAttention):
        _mha(g, m, g.calls[id(m)].pop(), out, path)
        return
    x = g.name(args[0], path)

    def done(name: str) -> None:
        g.bind(out, name)

    if isinstance(m, nn.Linear):
        w = g.const(m.weight.data.T, "W")
        y = g.node("MatMul", [x, w])[0]
        done(g.node("Add", [y, g.const(m.bias.data, "b")])[0] if m.bias is not None else y)
    elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
        nd = 1 if isinstance(m, nn.Conv1d) else 2
        if isinstance(m.padding, str) or m.padding_mode != "zeros":
            raise ExportError(f"onnx.export: {path} ({m.short_repr()}): padding={m.padding!r}, "
                              f"padding_mode={m.padding_mode!r}; only numeric zero padding is "
                              "exported")
        ins = [x, g.const(m.weight.data, "W")] + ([g.const(m.bias.data, "b")]
                                                  if m.bias is not None else [])
        done(g.node("Conv", ins, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                    pads=_pads(m.padding, nd), dilations=list(m.dilation), group=m.groups)[0])
    elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        attrs = {"kernel_shape": _tup(m.kernel_size, 2), "strides": _tup(m.stride, 2),
                 "pads": _pads(m.padding, 2), "ceil_mode": int(m.ceil_mode)}
        if isinstance(m, nn.MaxPool2d):
            if _tup(m.dilation, 2) != [1, 1] or m.return_indices:
                raise ExportError(f"onnx.export: {path}: dilated MaxPool2d or return_indices "
                                  "is not exported")
            done(g.node("MaxPool", [x], **attrs)[0])
        else:
            if m.divisor_override:
                raise ExportError(f"onnx.export: {path}: AvgPool2d divisor_override is not "
                                  "exported")
            done(g.node("AveragePool", [x], count_include_pad=int(m.count_include_pad),
                        **attrs)[0])
    elif isinstance(m, nn.AdaptiveAvgPool2d):
        if _tup(m.output_size, 2) != [1, 1]:
            raise ExportError(f"onnx.export: {path}: AdaptiveAvgPool2d to {m.output_size}; "
                              "only output_size=1 (GlobalAveragePool) is exported")
        done(g.node("GlobalAveragePool", [x])[0])
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        c = m.num_features
        dt = args[0].data.dtype
        scale = m.weight.data if m.weight is not None else np.ones(c, dt)
        bias = m.bias.data if m.bias is not None else np.zeros(c, dt)
        if m.running_mean is None:
            raise ExportError(f"onnx.export: {path}: BatchNorm without running statistics "
                              "(track_running_stats=False) is not exported")
        ins = [x] + [g.const(a, n) for a, n in ((scale, "scale"), (bias, "B"),
                                                 (m.running_mean.data, "mean"),
                                                 (m.running_var.data, "var"))]
        done(g.node("BatchNormalization", ins, epsilon=float(m.eps))[0])
    elif isinstance(m, nn.LayerNorm):
        n = len(m.normalized_shape)
        ins = [x] + ([g.const(m.weight.data, "scale"), g.const(m.bias.data, "B")]
                     if m.elementwise_affine else
                     [g.const(np.ones(m.normalized_shape, args[0].data.dtype), "scale")])
        done(g.node("LayerNormalization", ins, axis=-n, epsilon=float(m.eps))[0])
    elif isinstance(m, (nn.ReLU, nn.Tanh, nn.Sigmoid)):
        done(g.node({nn.ReLU: "Relu", nn.Tanh: "Tanh", nn.Sigmoid: "Sigmoid"}[type(m)], [x])[0])
    elif isinstance(m, nn.LeakyReLU):
        done(g.node("LeakyRelu", [x], alpha=float(m.negative_slope))[0])
    elif isinstance(m, nn.ELU):
        done(g.node("Elu", [x], alpha=float(m.alpha))[0])
    elif isinstance(m, nn.SiLU):
        done(g.node("Mul", [x, g.node("Sigmoid", [x])[0]])[0])
    elif isinstance(m, nn.Softplus):
        if m.beta != 1:
            raise ExportError(f"onnx.export: {path}: Softplus(beta={m.beta}) is not exported")
        done(g.node("Softplus", [x])[0])
    elif isinstance(m, nn.GELU):
        if m.approximate != "none":
            raise ExportError(f"onnx.export: {path}: GELU(approximate={m.approximate!r}) is "
                              "not exported")
        done(_gelu(g, x, args[0].data.dtype))
    elif isinstance(m, (nn.Softmax, nn.LogSoftmax)):
        dim = m.dim if m.dim is not None else -1
        done(g.node("Softmax" if isinstance(m, nn.Softmax) else "LogSoftmax", [x], axis=dim)[0])
    elif isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Identity)):
        done(g.node("Identity", [x])[0])
    elif isinstance(m, nn.Flatten):
        if m.end_dim not in (-1, args[0].ndim - 1):
            raise ExportError(f"onnx.export: {path}: Flatten(end_dim={m.end_dim}) is not "
                              "exported")
        done(g.node("Flatten", [x], axis=m.start_dim % args[0].ndim)[0])
    elif isinstance(m, nn.Embedding):
        done(g.node("Gather", [g.const(m.weight.data, "weight"), x], axis=0)[0])
    elif isinstance(m, (nn.LSTM, nn.GRU)):
        if len(args) > 1 and args[1] is not None:
            raise ExportError(f"onnx.export: {path}: an initial hidden state is not exported "
                              "(the model starts from zeros)")
        if getattr(m, "proj_size", 0):
            raise ExportError(f"onnx.export: {path}: LSTM proj_size is not exported")
        _rnn(g, m, x, out, m.batch_first)


def _gelu(g: _Graph, x: str, dt: np.dtype) -> str:
    """0.5 x (1 + erf(x / sqrt 2)) (ONNX's Gelu needs opset 20)."""
    e = g.node("Erf", [g.node("Div", [x, g.const(np.array(np.sqrt(2.0), dt), "c")])[0]])[0]
    one = g.node("Add", [e, g.const(np.array(1.0, dt), "c")])[0]
    return g.node("Mul", [g.node("Mul", [x, one])[0], g.const(np.array(0.5, dt), "c")])[0]


def _glue(g: _Graph, fn: Any, outs: tuple, dynamic: set[int]) -> None:
    """An op recorded between layers: reshapes, elementwise arithmetic of two traced tensors,
    activations, matmul, concatenation."""
    ins = [t for t in fn.inputs if t is not None]
    where = f"the op {type(fn).__name__}"
    out = outs[0]
    if isinstance(fn, _shape.Reshape):
        shape = [0 if k in dynamic and k < ins[0].ndim and out.shape[k] == ins[0].shape[k]
                 else int(n) for k, n in enumerate(out.shape)]
        if 0 not in shape and dynamic:  # keep the batch free: let ONNX infer one axis
            shape[0] = -1
        g.bind(out, g.node("Reshape", [g.name(ins[0], where),
                                       g.const(np.array(shape, np.int64), "shape")])[0])
        return
    if isinstance(fn, _shape.Permute):
        g.bind(out, g.node("Transpose", [g.name(ins[0], where)], perm=list(fn.dims))[0])
        return
    simple = {_arith.Add: "Add", _arith.Mul: "Mul", _linalg.MatMul: "MatMul"}
    op = simple.get(type(fn))
    if op is not None:
        if len(ins) != 2:
            raise ExportError(f"onnx.export: {where} with a constant operand, outside a layer, "
                              "is not exported; make the constant a buffer or a layer")
        g.bind(out, g.node(op, [g.name(ins[0], where), g.name(ins[1], where)])[0])
        return
    acts = {getattr(_act, n, None): o for n, o in (("ReLU", "Relu"), ("Relu", "Relu"),
                                                   ("Tanh", "Tanh"), ("Sigmoid", "Sigmoid"))}
    acts.pop(None, None)
    if type(fn) in acts:
        g.bind(out, g.node(acts[type(fn)], [g.name(ins[0], where)])[0])
        return
    if isinstance(fn, _act.GELU) and fn.approximate == "none":  # F.gelu (a Transformer's)
        g.bind(out, _gelu(g, g.name(ins[0], where), out.data.dtype))
        return
    if isinstance(fn, _shape.Cat):
        g.bind(out, g.node("Concat", [g.name(t, where) for t in ins], axis=int(fn.dim))[0])
        return
    raise ExportError(f"onnx.export: {where} (output shape {tuple(out.shape)}) is run outside a "
                      "layer this exporter knows and has no ONNX translation here; wrap it in "
                      "a supported layer (see deepwise.onnx)")


def _flat(obj: Any) -> list[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _flat(o)]
    return []


def export(model: Any, args: Any, f: str | os.PathLike | IO[bytes], *,
           input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
           dynamic_axes: dict[str, Any] | None = None, opset_version: int = OPSET,
           **ignored: Any) -> None:
    """Write ``model`` (run on ``args``: a tensor or a tuple of tensors) as an ONNX model to
    ``f`` (a path, written atomically, or a binary file). PyTorch's ``torch.onnx.export``
    arguments: ``input_names``/``output_names`` name the graph's inputs/outputs (default
    ``input_0``... / ``output_0``...), ``dynamic_axes={"x": {0: "batch"}}`` (or ``{"x": [0]}``)
    marks axes whose size may change. The model is exported in eval mode.

    Layers exported: Linear, Conv1d/2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), BatchNorm,
    LayerNorm, ReLU, Tanh, Sigmoid, LeakyReLU, ELU, GELU, SiLU, Softplus, (Log)Softmax, Dropout,
    Flatten, Embedding, LSTM and GRU (any layers, bidirectional, batch_first),
    MultiheadAttention (batched; masks become constants), and so the Transformer encoder and
    decoder layers (relu or gelu) and nn.Transformer; between layers: reshapes, permutes,
    concatenation, relu/tanh/sigmoid/gelu, and sums/products/matmuls of two traced tensors.
    """
    onnx = _onnx()
    if opset_version < OPSET:
        raise ValueError(f"onnx.export: opset_version {opset_version} < {OPSET} (LayerNorm and "
                         "the LSTM layout need opset 17)")
    args = args if isinstance(args, tuple) else (args,)
    if not all(isinstance(a, Tensor) for a in args):
        raise TypeError(f"onnx.export: args must be tensors, got "
                        f"{[type(a).__name__ for a in args]}")
    in_names = list(input_names or [f"input_{k}" for k in range(len(args))])
    if len(in_names) != len(args):
        raise ValueError(f"onnx.export: {len(in_names)} input_names for {len(args)} inputs")
    dyn = {k: (dict(v) if isinstance(v, dict) else {int(a): f"{k}_dim{a}" for a in v})
           for k, v in (dynamic_axes or {}).items()}
    g = _Graph(onnx)
    traced = [a.detach().requires_grad_(True) if a.dtype.kind == "f" else a for a in args]
    for t, n in zip(traced, in_names):
        g.bind(t, n)
    depth = [0]
    errors: list[Exception] = []
    paths = {id(m): name or "model" for name, m in model.named_modules()}
    dynamic_dims = {int(a) for v in dyn.values() for a in v}

    def pre(m: Any, a: tuple) -> None:
        if isinstance(m, _LEAVES):
            depth[0] += 1

    def post(m: Any, a: tuple, out: Any) -> None:
        if not isinstance(m, _LEAVES):
            return
        depth[0] -= 1
        if depth[0] == 0 and not errors:
            try:
                _layer(g, m, a, out, paths.get(id(m), type(m).__name__))
            except Exception as e:  # raised after the forward, with the layer's path
                errors.append(e)

    def observe(fn: Any, outs: tuple) -> None:
        if depth[0] == 0 and not errors:
            try:
                _glue(g, fn, outs, dynamic_dims)
            except Exception as e:
                errors.append(e)

    def catch_kwargs(m: Any) -> Any:  # attention's masks come as keyword arguments
        sig = inspect.signature(type(m).forward)

        def forward(*a: Any, **kw: Any) -> Any:
            call = sig.bind(m, *a, **kw)
            call.apply_defaults()
            g.calls.setdefault(id(m), []).append(call)
            return type(m).forward(m, *a, **kw)
        return forward

    attention = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    for m in attention:
        m.__dict__["forward"] = catch_kwargs(m)
    was_training = model.training
    model.eval()
    handles = [_module.register_module_forward_pre_hook(pre),
               _module.register_module_forward_hook(post), autograd.observe_forward(observe)]
    try:
        with autograd.enable_grad():
            result = model(*traced)
    finally:
        for h in handles:
            h.remove()
        for m in attention:
            m.__dict__.pop("forward", None)
        model.train(was_training)
    if errors:
        raise errors[0]
    outs = _flat(result)
    out_names = list(output_names or [f"output_{k}" for k in range(len(outs))])
    if len(out_names) > len(outs):
        raise ValueError(f"onnx.export: {len(out_names)} output_names for {len(outs)} outputs")
    h = onnx.helper
    for t, n in zip(outs, out_names):
        g.node("Identity", [g.name(t, f"output {n!r}")], [n])

    def info(name: str, t: Tensor) -> Any:
        axes = dyn.get(name, {})
        shape = [axes.get(k, int(s)) for k, s in enumerate(t.shape)]
        return h.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(t.dtype),
                                        shape)

    graph = h.make_graph(g.nodes, type(model).__name__,
                         [info(n, t) for n, t in zip(in_names, args)],
                         [info(n, t) for n, t in zip(out_names, outs)], g.inits)
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", opset_version)],
                         producer_name="deepwise")
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if hasattr(f, "write"):
        f.write(data)
        return
    with atomic_path(f) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
