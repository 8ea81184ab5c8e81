"""Recurrent ops (deepwise.ops.rnn): float64 gradient checks of every cell and whole-sequence op
(both directions, with per-sequence lengths), PyTorch parity, and the padding guarantees; the
sequence tests run through both paths (``kernel_path``: NumPy and deepwise.kernels.rnn)."""

import numpy as np
import pytest
from helpers import check_op, rand, torch

import deepwise as dw
from deepwise.autograd import ShapeError, gradcheck
from deepwise.ops import rnn as R

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def weights(gates, i, h, seed=0, bias=True, transposed=False):
    """w_ih, w_hh (as transposed views when asked: non-contiguous inputs), b_ih, b_hh."""
    w_ih = rand(i, gates * h, seed=seed).T if transposed else rand(gates * h, i, seed=seed)
    w_hh = rand(h, gates * h, seed=seed + 1).T if transposed else rand(gates * h, h, seed=seed + 1)
    ws = [w_ih, w_hh]
    if bias:
        ws += [rand(gates * h, seed=seed + 2), rand(gates * h, seed=seed + 3)]
    return ws


# ---- cells --------------------------------------------------------------------------------------


def _torch_cell(name):
    fn = getattr(torch, name)
    if name == "lstm_cell":
        return lambda x, h, c, *w: fn(x, (h, c), *w)
    return fn


@pytest.mark.parametrize("name", ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell"])
@pytest.mark.parametrize("batch,bias,transposed", [(3, True, False), (1, True, True),
                                                   (2, False, False)])
def test_cell_gradcheck_and_parity(name, batch, bias, transposed):
    gates = GATES[name.replace("_cell", "")]
    i, h = 3, 4
    states = [rand(batch, h, seed=7)] + ([rand(batch, h, seed=8)] if name == "lstm_cell" else [])
    inputs = [rand(batch, i, seed=5)] + states + weights(gates, i, h, 11, bias, transposed)
    fn = getattr(R, name)
    if name == "lstm_cell":
        def ours(x, hh, c, *w):
            return fn(x, (hh, c), *w)
    else:
        ours = fn
    check_op(ours, inputs, _torch_cell(name) if torch is not None else None)


def test_cell_without_state_is_zero_state():
    x, w = dw.tensor(rand(2, 3)), [dw.tensor(a) for a in weights(4, 3, 5)]
    h, c = R.lstm_cell(x, None, *w)
    z = dw.zeros(2, 5, dtype=dw.float64)
    h2, c2 = R.lstm_cell(x, (z, z), *w)
    np.testing.assert_allclose(h.data, h2.data)
    np.testing.assert_allclose(c.data, c2.data)
    g1 = R.gru_cell(x, None, *[dw.tensor(a) for a in weights(3, 3, 5)])
    g2 = R.gru_cell(x, z, *[dw.tensor(a) for a in weights(3, 3, 5)])
    np.testing.assert_allclose(g1.data, g2.data)


# ---- whole sequences -------------------------------------------------------------------------


def run(name, x, h0, c0, ws, lengths=None, reverse=False):
    """Call the sequence op; returns a flat tuple (output, h_n[, c_n])."""
    if name == "lstm":
        out, (h, c) = R.lstm(x, None if h0 is None else (h0, c0), *ws, lengths=lengths,
                             reverse=reverse)
        return out, h, c
    return getattr(R, name)(x, h0, *ws, lengths=lengths, reverse=reverse)


def torch_ref(name, x, h0, c0, ws, lengths=None, reverse=False):
    """PyTorch's fused layer with the same weights (functional_call, so weight grads flow).
    ``reverse``: the backward half of a bidirectional layer (forward half zero weights)."""
    t, b, i = x.shape
    h = ws[1].shape[1]
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(name, torch.nn.RNN)
    kw = {"nonlinearity": name[4:]} if name.startswith("rnn") else {}
    mod = cls(i, h, bidirectional=reverse, bias=len(ws) == 4, **kw)
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"][:len(ws)]
    params = {}
    for n, w in zip(names, ws):
        if reverse:
            params[n] = torch.zeros_like(w)
            params[n + "_reverse"] = w
        else:
            params[n] = w
    if h0 is not None and reverse:
        h0, c0 = [None if s is None else torch.stack([torch.zeros_like(s), s]) for s in (h0, c0)]
    elif h0 is not None:
        h0, c0 = [None if s is None else s[None] for s in (h0, c0)]
    hx = None if h0 is None else ((h0, c0) if name == "lstm" else h0)
    inp = x
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(x, list(lengths), enforce_sorted=False)
    out, hn = torch.func.functional_call(mod, params, (inp, hx))
    if lengths is not None:
        out = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=t)[0]
    k = 1 if reverse else 0
    out = out[..., h:] if reverse else out
    if name == "lstm":
        return out, hn[0][k], hn[1][k]
    return out, hn[k]


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, (4, 1, 3)])
def test_sequence_gradcheck_and_parity(name, reverse, lengths, kernel_path):
    t, b, i, h = 4, 3, 3, 4
    gates = GATES[name]
    x = rand(b, t, i, seed=1).transpose(1, 0, 2)  # time-major view of batch-first storage
    states = [rand(b, h, seed=2)] + ([rand(b, h, seed=3)] if name == "lstm" else [])
    ws = weights(gates, i, h, seed=4, transposed=reverse)
    lens = None if lengths is None else np.array(lengths)

    if name == "lstm":
        def ours(x, h0, c0, *w):
            return run(name, x, h0, c0, w, lens, reverse)

        def ref(x, h0, c0, *w):
            return torch_ref(name, x, h0, c0, w, lengths, reverse)
    else:
        def ours(x, h0, *w):
            return run(name, x, h0, None, w, lens, reverse)

        def ref(x, h0, *w):
            return torch_ref(name, x, h0, None, w, lengths, reverse)
    check_op(ours, [x] + states + ws, ref if torch is not None else None)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh"])
def test_sequence_no_bias_no_state_batch_one(name, kernel_path):
    x = rand(5, 1, 2, seed=3)
    ws = weights(GATES[name], 2, 3, seed=9, bias=False)

    def ours(x, *w):
        return run(name, x, None, None, w)

    def ref(x, *w):
        return torch_ref(name, x, None, None, w)
    check_op(ours, [x] + ws, ref if torch is not None else None)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("reverse", [False, True])
def test_padded_steps_change_nothing(name, reverse, kernel_path):
    """A padded batch with lengths gives, for each sequence, exactly what running it alone
    gives: the outputs (0 past the end), the final state, and every gradient."""
    t, i, h = 5, 3, 4
    lengths = [5, 2, 3]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((t, 3, i))
    for b, n in enumerate(lengths):
        x[n:, b] = rng.uniform(-50, 50, size=(t - n, i))  # garbage padding: must not matter
    h0 = rng.standard_normal((3, h))
    c0 = rng.standard_normal((3, h))
    ws = weights(GATES[name], i, h, seed=5)
    go = rng.standard_normal((t, 3, h))
    gh = rng.standard_normal((3, h))

    def loss_and_grads(xa, h0a, c0a, goa, gha, idx_len=None):
        xt = dw.tensor(xa, requires_grad=True)
        h0t, c0t = dw.tensor(h0a, requires_grad=True), dw.tensor(c0a, requires_grad=True)
        wt = [dw.tensor(w, requires_grad=True) for w in ws]
        outs = run(name, xt, h0t, c0t, wt, idx_len, reverse)
        loss = (outs[0] * dw.tensor(goa)).sum()
        for o in outs[1:]:
            loss = loss + (o * dw.tensor(gha)).sum()
        loss.backward()
        return outs, xt.grad.data, h0t.grad.data, [w.grad.data for w in wt]

    outs, gx, gh0, gws = loss_and_grads(x, h0, c0, go, gh, np.array(lengths))
    sum_gws = [np.zeros_like(w) for w in ws]
    for b, n in enumerate(lengths):
        o1, gx1, gh01, gws1 = loss_and_grads(x[:n, b:b + 1], h0[b:b + 1], c0[b:b + 1],
                                              go[:n, b:b + 1], gh[b:b + 1])
        np.testing.assert_allclose(outs[0].data[:n, b], o1[0].data[:, 0], atol=1e-12)
        np.testing.assert_array_equal(outs[0].data[n:, b], 0)
        for s, s1 in zip(outs[1:], o1[1:]):
            np.testing.assert_allclose(s.data[b], s1.data[0], atol=1e-12)
        np.testing.assert_allclose(gx[:n, b], gx1[:, 0], atol=1e-12)
        np.testing.assert_array_equal(gx[n:, b], 0)
        np.testing.assert_allclose(gh0[b], gh01[0], atol=1e-12)
        for acc, g1 in zip(sum_gws, gws1):
            acc += g1
    for g, g1 in zip(gws, sum_gws):
        np.testing.assert_allclose(g, g1, atol=1e-10)


def test_zero_length_keeps_initial_state(kernel_path):
    ws = [dw.tensor(w) for w in weights(4, 2, 3)]
    x, h0, c0 = dw.tensor(rand(4, 2, 2)), dw.tensor(rand(2, 3, seed=1)), dw.tensor(rand(2, 3))
    out, (h, c) = R.lstm(x, (h0, c0), *ws, lengths=[0, 4])
    np.testing.assert_array_equal(out.data[:, 0], 0)
    np.testing.assert_array_equal(h.data[0], h0.data[0])
    np.testing.assert_array_equal(c.data[0], c0.data[0])


def test_only_needed_gradients_are_computed(kernel_path):
    """Frozen weights and a constant input get no gradient; the rest still do."""
    x = dw.tensor(rand(4, 2, 3))
    w = [dw.tensor(a) for a in weights(3, 3, 5)]
    w[1].requires_grad_()
    out, h = R.gru(x, None, *w)
    out.sum().backward()
    assert w[1].grad is not None and x.grad is None and w[0].grad is None
    gradcheck(lambda whh: R.gru(x, None, w[0], whh, w[2], w[3])[0], [w[1]])


def test_float32_output_and_extreme_inputs_are_finite(kernel_path):
    x = dw.tensor(np.random.default_rng(0).uniform(-300, 300, (6, 2, 3)).astype(np.float32))
    ws = [dw.tensor(a.astype(np.float32) * 30, requires_grad=True) for a in weights(4, 3, 4)]
    out, (h, c) = R.lstm(x, None, *ws)
    assert out.dtype == np.float32 and np.isfinite(out.data).all()
    assert np.abs(out.data).max() <= 1.0
    out.sum().backward()
    assert all(np.isfinite(w.grad.data).all() for w in ws)


def test_errors_name_op_and_shapes():
    ws = [dw.tensor(w) for w in weights(4, 3, 5)]
    with pytest.raises(ShapeError, match=r"lstm: input has 7 features .*input_size=3"):
        R.lstm(dw.tensor(rand(4, 2, 7)), None, *ws)
    with pytest.raises(ShapeError, match=r"lstm: input must be \(T, B, input_size\)"):
        R.lstm(dw.tensor(rand(4, 3)), None, *ws)
    with pytest.raises(ShapeError, match=r"h0 must be \(batch=2, hidden=5\), got \(3, 5\)"):
        R.lstm(dw.tensor(rand(4, 2, 3)), (dw.tensor(rand(3, 5)), dw.tensor(rand(3, 5))), *ws)
    with pytest.raises(ShapeError, match=r"gru: expected weight_ih \(3\*hidden"):
        R.gru(dw.tensor(rand(4, 2, 3)), None, *ws)
    with pytest.raises(ShapeError, match="lengths must be 2 integers"):
        R.lstm(dw.tensor(rand(4, 2, 3)), None, *ws, lengths=[1, 2, 3])
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 4\]"):
        R.lstm(dw.tensor(rand(4, 2, 3)), None, *ws, lengths=[5, 2])
    with pytest.raises(TypeError, match="input is float32 but weight is float64"):
        R.lstm(dw.tensor(rand(4, 2, 3).astype(np.float32)), None, *ws)
    with pytest.raises(ShapeError, match=r"lstm_cell: input must be \(B, input_size\)"):
        R.lstm_cell(dw.tensor(rand(3)), None, *ws)
