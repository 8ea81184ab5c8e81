"""The LSTM and GRU sequence ops through both paths (``kernel_path``: NumPy, and
deepwise.kernels.rnn's per-step kernels): the kernels' float32 activations against the true
tanh/sigmoid, the two paths against each other (float64 and float32, masks, both directions,
non-contiguous input), and the layers against PyTorch (stacked, bidirectional, batch_first,
initial states, padded lengths; outputs, final states and every gradient)."""

import math

import numpy as np
import pytest
from helpers import needs_torch, torch

import deepwise as dw
from deepwise import kernels
from deepwise.nn.rnn import GRU, LSTM
from deepwise.ops import rnn as R

needs_numba = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


@needs_numba
def test_float32_activations_are_close_and_float64_exact():
    from deepwise.kernels import rnn as K
    xs = np.concatenate([np.linspace(-12, 12, 4001), [0.0, 1e-30, -1e-8, 40.0, -90.0]])
    tanh32 = np.array([K.tanh(np.float32(x)) for x in xs])
    sig32 = np.array([K.sigmoid(np.float32(x)) for x in xs])
    for v in (tanh32, sig32):  # computed in float32 (numba hands back a Python float)
        np.testing.assert_array_equal(v.astype(np.float32), v)
    x32 = xs.astype(np.float32).astype(np.float64)
    assert np.abs(tanh32 - np.tanh(x32)).max() < 5e-7
    assert np.abs(sig32 - 1 / (1 + np.exp(-x32))).max() < 3e-7
    assert np.all(np.abs(tanh32) <= 1) and np.all((sig32 >= 0) & (sig32 <= 1))
    for x in xs:
        assert K.tanh(float(x)) == math.tanh(x)
        assert abs(K.sigmoid(float(x)) - 1 / (1 + math.exp(-x))) <= 2e-16


def _run(cell, dtype, lengths, reverse, seed=0):
    """Outputs and all gradients (x, states, weights) of one layer for fixed upstream grads;
    the input is a time-major view of batch-first storage, as nn.LSTM(batch_first) passes it."""
    rng = np.random.default_rng(seed)
    t, b, i, h = 7, 4, 5, 6
    g = 4 if cell == "lstm" else 3
    x = dw.tensor(rng.standard_normal((b, t, i)).astype(dtype).transpose(1, 0, 2),
                  requires_grad=True)
    ws = [dw.tensor((rng.standard_normal(s) * 0.5).astype(dtype), requires_grad=True)
          for s in [(g * h, i), (g * h, h), (g * h,), (g * h,)]]
    states = [dw.tensor(rng.standard_normal((b, h)).astype(dtype), requires_grad=True)
              for _ in range(2 if cell == "lstm" else 1)]
    lens = None if lengths is None else np.array(lengths)
    if cell == "lstm":
        out, (hn, cn) = R.lstm(x, tuple(states), *ws, lengths=lens, reverse=reverse)
        outs = [out, hn, cn]
    else:
        out, hn = R.gru(x, states[0], *ws, lengths=lens, reverse=reverse)
        outs = [out, hn]
    loss = None
    for k, o in enumerate(outs):
        term = (o * dw.tensor(rng.standard_normal(o.shape).astype(dtype))).sum()
        loss = term if k == 0 else loss + term
    loss.backward()
    return [o.data for o in outs] + [v.grad.data for v in [x, *states, *ws]]


@needs_numba
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, (7, 2, 5, 0)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_and_numpy_paths_agree(cell, reverse, lengths, dtype):
    with kernels.use_numba(False):
        ref = _run(cell, dtype, lengths, reverse)
    with kernels.use_numba(True):
        got = _run(cell, dtype, lengths, reverse)
    tol = {"rtol": 1e-11, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-5, "atol": 2e-6}
    for a, b in zip(got, ref):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional,batch_first,with_state,lengths", [
    (False, True, False, None), (True, False, True, None), (True, True, True, (5, 3, 1))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stacked_layers_match_torch(kernel_path, mode, bidirectional, batch_first, with_state,
                                    lengths, dtype):
    """nn.LSTM / nn.GRU with 2 layers against PyTorch's fused layer, the same weights."""
    needs_torch()
    t, b, i, h, layers = 5, 3, 4, 6, 2
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(0)
    ref = getattr(torch.nn, mode)(i, h, num_layers=layers, bidirectional=bidirectional,
                                  batch_first=batch_first).to(tdt)
    ours = (LSTM if mode == "LSTM" else GRU)(i, h, num_layers=layers, batch_first=batch_first,
                                              bidirectional=bidirectional, dtype=dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((b, t, i) if batch_first else (t, b, i)).astype(dtype)
    nstate = layers * (2 if bidirectional else 1)
    states = [rng.standard_normal((nstate, b, h)).astype(dtype)
              for _ in range(2 if mode == "LSTM" else 1)] if with_state else []
    xt, st = torch.tensor(x, requires_grad=True), [torch.tensor(s, requires_grad=True)
                                                      for s in states]
    xd, sd = dw.tensor(x, requires_grad=True), [dw.tensor(s, requires_grad=True) for s in states]
    hx_t = None if not states else (tuple(st) if mode == "LSTM" else st[0])
    hx_d = None if not states else (tuple(sd) if mode == "LSTM" else sd[0])
    if lengths is None:
        out_t, fin_t = ref(xt, hx_t)
        out_d, fin_d = ours(xd, hx_d)
    else:
        pu = torch.nn.utils.rnn
        packed = pu.pack_padded_sequence(xt, list(lengths), batch_first=batch_first,
                                         enforce_sorted=False)
        out_t, fin_t = ref(packed, hx_t)
        out_t = pu.pad_packed_sequence(out_t, batch_first=batch_first, total_length=t)[0]
        out_d, fin_d = ours(xd, hx_d, lengths=np.array(lengths))
    fin_t = list(fin_t) if mode == "LSTM" else [fin_t]
    fin_d = list(fin_d) if mode == "LSTM" else [fin_d]
    tol = {"rtol": 1e-9, "atol": 1e-11} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-5}
    grads = [rng.standard_normal(tuple(o.shape)).astype(dtype) for o in [out_t, *fin_t]]
    loss_t = sum((o * torch.tensor(g)).sum() for o, g in zip([out_t, *fin_t], grads))
    loss_d = None
    for o, g in zip([out_d, *fin_d], grads):
        term = (o * dw.tensor(g)).sum()
        loss_d = term if loss_d is None else loss_d + term
    loss_t.backward()
    loss_d.backward()
    for a, e in zip([out_d, *fin_d], [out_t, *fin_t]):
        np.testing.assert_allclose(a.data, e.detach().numpy(), **tol)
    for a, e in zip([xd, *sd], [xt, *st]):
        np.testing.assert_allclose(a.grad.data, e.grad.numpy(), **tol)
    theirs = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, theirs[name].grad.numpy(), **tol, err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sequence_gradcheck_both_paths(kernel_path, cell):
    """float64 gradient check of a padded, reversed layer with states, on either path."""
    rng = np.random.default_rng(3)
    t, b, i, h = 4, 3, 2, 3
    g = 4 if cell == "lstm" else 3
    x = dw.tensor(rng.standard_normal((t, b, i)), requires_grad=True)
    ws = [dw.tensor(rng.standard_normal(s) * 0.7, requires_grad=True)
          for s in [(g * h, i), (g * h, h), (g * h,), (g * h,)]]
    states = [dw.tensor(rng.standard_normal((b, h)), requires_grad=True)
              for _ in range(2 if cell == "lstm" else 1)]
    lens = np.array([4, 1, 3])

    def fn(x, *rest):
        st, w = rest[:len(states)], rest[len(states):]
        if cell == "lstm":
            out, (hn, cn) = R.lstm(x, tuple(st), *w, lengths=lens, reverse=True)
            return out, hn, cn
        return R.gru(x, st[0], *w, lengths=lens, reverse=True)
    assert dw.autograd.gradcheck(fn, [x, *states, *ws], eps=1e-6, atol=1e-5, rtol=1e-3)
