"""Recurrent layers: RNN, LSTM, GRU (stacked, bidirectional) and their one-step cells.

PyTorch's signatures, parameter names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, ``..._reverse`` for the backward direction) and layouts (LSTM gates i, f, g, o;
GRU r, z, n), so a PyTorch state dict loads and gives the same outputs.

Each layer and direction is one call of a whole-sequence op in ``deepwise.ops.rnn``: the input
projection of all time steps is one GEMM, each step one small GEMM plus fused gate math, and
backpropagation through time runs in the same op.

Variable-length batches: pass a :class:`~deepwise.nn.utils.rnn.PackedSequence` (as in PyTorch),
or - a deepwise extension - a padded batch with ``lengths=``. Steps past a sequence's length do
not change its state (``h_n`` is the state at its last real step) and their outputs are 0.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import backend
from ..autograd import ShapeError
from ..ops import activation as _act
from ..ops import rnn as _rnn
from ..ops import shape as _shape
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_SEQ_OPS = {"RNN_TANH": _rnn.rnn_tanh, "RNN_RELU": _rnn.rnn_relu, "LSTM": _rnn.lstm,
            "GRU": _rnn.gru}


def _dtype(dtype: Any) -> np.dtype:
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


class RNNBase(Module):
    """The shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU` (``mode`` is
    ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'`` or ``'GRU'``)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, dtype: Any = None) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"RNNBase: unknown mode {mode!r} (expected one of {list(_GATES)})")
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{type(self).__name__}: dropout should be a number in [0, 1] "
                             f"representing the probability of an element being zeroed, got "
                             f"{dropout!r}")
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{type(self).__name__}: hidden_size and num_layers must be "
                             f"positive, got hidden_size={hidden_size}, num_layers={num_layers}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{type(self).__name__}: dropout option adds dropout after all but the "
                          f"last recurrent layer, so non-zero dropout expects num_layers greater "
                          f"than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=3)
        if proj_size:
            raise NotImplementedError(f"{type(self).__name__}: proj_size (LSTM with projections)"
                                      " is not supported")
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias = int(num_layers), bool(bias)
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), 0
        gate = _GATES[mode] * self.hidden_size
        dt = _dtype(dtype)
        dirs = 2 if self.bidirectional else 1
        self._flat_weights_names: list[str] = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self.hidden_size * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (gate, in_size)), ("weight_hh", (gate, hidden_size))]
                if self.bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                for name, shape in shapes:
                    setattr(self, name + sfx, Parameter(np.empty(shape, dt)))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch compatibility (cuDNN's contiguous weight buffer)."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction: [[w_ih, w_hh, b_ih, b_hh], ...]."""
        n = 4 if self.bias else 2
        ws = [getattr(self, name) for name in self._flat_weights_names]
        return [ws[i:i + n] for i in range(0, len(ws), n)]

    def _check_state(self, h: Any, shape: tuple, what: str) -> None:
        if tuple(h.shape) != shape:
            raise ShapeError(f"{type(self).__name__}: expected {what} of shape {shape} "
                             f"(num_layers * num_directions, batch, hidden_size), got "
                             f"{tuple(h.shape)}")

    def forward(self, input: Any, hx: Any = None,  # noqa: A002 - PyTorch's name
                lengths: Any = None) -> tuple:
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError(f"{type(self).__name__}: pass lengths= only with a padded "
                                 "tensor; a PackedSequence carries its own lengths")
            x, lens = pad_packed_sequence(input)
            lens, batched = lens.data, True
        else:
            x = input
            if x.ndim not in (2, 3):
                raise ShapeError(f"{type(self).__name__}: expected input of 3 dims ("
                                 f"{'B, T' if self.batch_first else 'T, B'}, input_size) or 2 "
                                 f"(T, input_size) for one sequence, got shape {tuple(x.shape)}")
            batched = x.ndim == 3
            if not batched:
                x = _shape.unsqueeze(x, 1)
            elif self.batch_first:
                x = _shape.transpose(x, 0, 1)
            lens = None
            if lengths is not None:
                lens = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__}: input.size(-1) must be equal to "
                             f"input_size. Expected {self.input_size}, got {x.shape[-1]} (input "
                             f"shape {tuple(input.data.shape if packed else input.shape)})")
        lstm = self.mode == "LSTM"
        dirs = 2 if self.bidirectional else 1
        state_shape = (self.num_layers * dirs, x.shape[1], self.hidden_size)
        states: tuple = (None, None) if lstm else (None,)
        if hx is not None:
            states = tuple(hx) if lstm else (hx,)
            if len(states) != (2 if lstm else 1):
                raise ValueError(f"{type(self).__name__}: hx must be "
                                 f"{'(h_0, c_0)' if lstm else 'a tensor'}")
            if not batched:
                states = tuple(_shape.unsqueeze(s, 1) for s in states)
            for s, what in zip(states, ("h_0", "c_0")):
                self._check_state(s, state_shape, what)
        op = _SEQ_OPS[self.mode]
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                init_k = [None if s is None else s[k] for s in states]
                weights = self.all_weights[k]
                if lstm:
                    out, (h, c) = op(x, tuple(init_k) if hx is not None else None, *weights,
                                     lengths=lens, reverse=bool(d))
                    finals[1].append(c)
                else:
                    out, h = op(x, init_k[0], *weights, lengths=lens, reverse=bool(d))
                finals[0].append(h)
                outs.append(out)
            x = outs[0] if dirs == 1 else _shape.cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = _act.dropout(x, p=self.dropout, training=True)
        h_n = [_shape.stack(f, dim=0) for f in finals]
        if packed:
            enforce = input.sorted_indices is None
            out = pack_padded_sequence(x, lens, enforce_sorted=enforce)
        elif not batched:
            out = _shape.squeeze(x, 1)
            h_n = [_shape.squeeze(h, 1) for h in h_n]
        else:
            out = _shape.transpose(x, 0, 1) if self.batch_first else x
        return (out, tuple(h_n)) if lstm else (out, h_n[0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def short_repr(self) -> str:
        return f"{type(self).__name__} {self.input_size}->{self.hidden_size}"


_SHAPES_DOC = """
    Shape (D = 2 if bidirectional else 1, L = num_layers):
        Input: (T, B, input_size), or (B, T, input_size) with ``batch_first``, or (T, input_size)
            for one unbatched sequence; or a PackedSequence.
        {state}
        Output: (T, B, D * hidden_size) (batch_first: (B, T, ...)), or a PackedSequence if the
            input was one; padded steps (``lengths=``) are 0.
"""


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU), stacked
    ``num_layers`` deep, optionally bidirectional, with dropout between layers (training only).

    ``forward(input, hx=None, lengths=None)`` returns ``(output, h_n)``. ``lengths`` (deepwise
    extension): the true length of each sequence of a padded batch.
    {shapes}
    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> rnn = nn.RNN(10, 20, num_layers=2)
    >>> out, h = rnn(dw.randn(5, 3, 10))
    >>> out.shape, h.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (use 'tanh' or 'relu')")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), PyTorch's formulation:
    ``i, f, o = sigmoid(.)``, ``g = tanh(.)`` of ``x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh``
    (gates stacked i, f, g, o), ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``.

    ``forward(input, hx=None, lengths=None)`` with ``hx = (h_0, c_0)`` returns
    ``(output, (h_n, c_n))``. Truncated BPTT: carry ``(h.detach(), c.detach())`` into the next
    chunk.
    {shapes}
    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> lstm = nn.LSTM(10, 20, batch_first=True, bidirectional=True)
    >>> out, (h, c) = lstm(dw.randn(3, 5, 10))
    >>> out.shape, h.shape, c.shape
    ((3, 5, 40), (2, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al. 2014), PyTorch's formulation (gates r, z, n):
    ``r, z = sigmoid(.)``, ``n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))``,
    ``h_t = (1 - z) * n + z * h_{t-1}``.

    ``forward(input, hx=None, lengths=None)`` returns ``(output, h_n)``.
    {shapes}
    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> gru = nn.GRU(10, 20, num_layers=2)
    >>> out, h = gru(dw.randn(5, 3, 10))
    >>> out.shape, h.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype=dtype)


_STATE = "h_0 / h_n: (D * L, B, hidden_size), or (D * L, hidden_size) unbatched; zeros if omitted."
RNN.__doc__ = RNN.__doc__.replace("{shapes}", _SHAPES_DOC.format(state=_STATE))
GRU.__doc__ = GRU.__doc__.replace("{shapes}", _SHAPES_DOC.format(state=_STATE))
LSTM.__doc__ = LSTM.__doc__.replace("{shapes}", _SHAPES_DOC.format(
    state="h_0, c_0 / h_n, c_n: each (D * L, B, hidden_size) (unbatched: (D * L, hidden_size));"
          "\n            zeros if omitted."))


# ---- cells ----------------------------------------------------------------------------------


class RNNCellBase(Module):
    """One time step of a recurrent layer: parameters ``weight_ih`` (G*H, I), ``weight_hh``
    (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,), G = the number of gates."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 dtype: Any = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        dt = _dtype(dtype)
        g = num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.empty((g, self.input_size), dt))
        self.weight_hh = Parameter(np.empty((g, self.hidden_size), dt))
        if bias:
            self.bias_ih = Parameter(np.empty((g,), dt))
            self.bias_hh = Parameter(np.empty((g,), dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _batch(self, x: Tensor, states: tuple) -> tuple[Tensor, tuple, bool]:
        """Input (B, I) or one sample (I,) (made (1, I)); states likewise."""
        if x.ndim not in (1, 2):
            raise ShapeError(f"{type(self).__name__}: expected input (B, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(x.shape)}")
        if x.ndim == 1:
            x = _shape.unsqueeze(x, 0)
            states = tuple(None if s is None else _shape.unsqueeze(s, 0) for s in states)
            return x, states, False
        return x, states, True

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s

    def short_repr(self) -> str:
        return f"{type(self).__name__} {self.input_size}->{self.hidden_size}"


class RNNCell(RNNCellBase):
    """One Elman step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU).

    Shape: input (B, input_size) or (input_size,); hx (B, hidden_size) or (hidden_size,), zeros
    if omitted -> h' (B, hidden_size) or (hidden_size,).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.RNNCell(10, 20)(dw.randn(3, 10)).shape
    (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} (use 'tanh' or "
                             "'relu')")
        super().__init__(input_size, hidden_size, bias, 1, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, (h,), batched = self._batch(input, (hx,))
        op = _rnn.rnn_tanh_cell if self.nonlinearity == "tanh" else _rnn.rnn_relu_cell
        out = op(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if batched else _shape.squeeze(out, 0)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o): ``c' = f c + i g``, ``h' = o tanh(c')``.

    Shape: input (B, input_size) or (input_size,); hx = (h, c) each (B, hidden_size), zeros if
    omitted -> (h', c') each (B, hidden_size) (or unbatched (hidden_size,)).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> h, c = nn.LSTMCell(10, 20)(dw.randn(3, 10))
    >>> h.shape, c.shape
    ((3, 20), (3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:  # noqa: A002
        x, states, batched = self._batch(input, (None, None) if hx is None else tuple(hx))
        h, c = _rnn.lstm_cell(x, None if hx is None else states, self.weight_ih, self.weight_hh,
                              self.bias_ih, self.bias_hh)
        if not batched:
            return _shape.squeeze(h, 0), _shape.squeeze(c, 0)
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n): ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
    ``h' = (1 - z) * n + z * h``.

    Shape: input (B, input_size) or (input_size,); hx (B, hidden_size), zeros if omitted
    -> h' (B, hidden_size) (or unbatched (hidden_size,)).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> nn.GRUCell(10, 20)(dw.randn(3, 10)).shape
    (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, (h,), batched = self._batch(input, (hx,))
        out = _rnn.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if batched else _shape.squeeze(out, 0)
