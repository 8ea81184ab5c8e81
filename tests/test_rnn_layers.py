"""Recurrent layers (nn.RNN/LSTM/GRU and cells) and nn.utils.rnn: parity with PyTorch with the
same weights (outputs, final states, every weight and input gradient), packed sequences and
lengths=, dropout, truncated BPTT, and small models that must learn."""

import numpy as np
import pytest
from helpers import needs_torch, torch

import deepwise as dw
from deepwise import optim
from deepwise.autograd import ShapeError
from deepwise.nn.linear import Linear
from deepwise.nn.module import Module
from deepwise.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from deepwise.nn.sparse import Embedding
from deepwise.nn.utils import rnn as U
from deepwise.ops.loss import cross_entropy

TU = torch.nn.utils.rnn if torch is not None else None  # comparisons with PyTorch skip without it

# deepwise class, PyTorch's class name in torch.nn, extra arguments
LAYERS = {"lstm": (LSTM, "LSTM", {}), "gru": (GRU, "GRU", {}), "rnn_tanh": (RNN, "RNN", {}),
          "rnn_relu": (RNN, "RNN", {"nonlinearity": "relu"})}


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def pair(name, *args, **kw):
    """A deepwise layer and a PyTorch layer with the same weights (its state dict, as .numpy());
    without PyTorch, the deepwise layer and None."""
    cls, tname, extra = LAYERS[name]
    if torch is None:
        return cls(*args, **kw, **extra), None
    torch.manual_seed(0)
    t = getattr(torch.nn, tname)(*args, **kw, **extra)
    m = cls(*args, **kw, **extra)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


def states(out):
    """The final states of a layer call as a list: [h_n] or [h_n, c_n]."""
    return list(out[1]) if isinstance(out[1], tuple) else [out[1]]


def assert_close(a, b, what, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(a.data if isinstance(a, dw.Tensor) else a,
                               b.detach().numpy() if hasattr(b, "detach") else b,
                               rtol=rtol, atol=atol, err_msg=what)


def backward_both(m_out, t_out, seed=1):
    """Backward a random linear function of the output and of every final state."""
    outs, touts = [m_out[0]] + states(m_out), [t_out[0]] + states(t_out)
    if isinstance(outs[0], U.PackedSequence):
        outs[0], touts[0] = outs[0].data, touts[0].data
    loss, tloss = 0, 0
    for k, (o, to) in enumerate(zip(outs, touts)):
        w = randn(*to.shape, seed=seed + k)
        loss = loss + (o * dw.tensor(w)).sum()
        tloss = tloss + (to * torch.from_numpy(w)).sum()
    loss.backward()
    tloss.backward()


def check_grads(m, t, inputs=(), rtol=1e-4, atol=1e-5):
    """Every parameter's gradient equals PyTorch's, matched by name (a parameter that only one
    side has fails), then the inputs' gradients."""
    ours, theirs = dict(m.named_parameters()), dict(t.named_parameters())
    assert list(ours) == list(theirs), \
        f"parameters: missing {sorted(set(theirs) - set(ours))}, " \
        f"extra {sorted(set(ours) - set(theirs))}, order {list(ours)} vs {list(theirs)}"
    for name, p in ours.items():
        assert p.grad is not None, f"{name}: no gradient, PyTorch has one"
        assert_close(p.grad, theirs[name].grad, f"gradient of {name}", rtol, atol)
    for k, (a, b) in enumerate(inputs):
        assert_close(a.grad, b.grad, f"gradient of input #{k}", rtol, atol)


def test_check_grads_fails_on_a_parameter_only_one_side_has():
    needs_torch()
    m, t = pair("gru", 3, 4)
    x = randn(5, 2, 3)
    backward_both(m(dw.tensor(x)), t(torch.from_numpy(x)))
    check_grads(m, t)
    no_bias = torch.nn.GRU(3, 4, bias=False)
    no_bias(torch.from_numpy(x))[0].sum().backward()
    with pytest.raises(AssertionError, match=r"extra \['bias_hh_l0', 'bias_ih_l0'\]"):
        check_grads(m, no_bias)


# ---- layers vs PyTorch --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("bidirectional,batch_first", [(False, False), (True, False),
                                                       (True, True), (False, True)])
def test_layer_parity_two_layers(name, bidirectional, batch_first):
    needs_torch()
    m, t = pair(name, 4, 5, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    d = 2 if bidirectional else 1
    x = randn(*((3, 6, 4) if batch_first else (6, 3, 4)), seed=2)
    h0 = [randn(2 * d, 3, 5, seed=3 + k) for k in range(2 if name == "lstm" else 1)]
    xs, txs = dw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hs = [dw.tensor(h, requires_grad=True) for h in h0]
    ths = [torch.tensor(h, requires_grad=True) for h in h0]
    out = m(xs, tuple(hs) if name == "lstm" else hs[0])
    tout = t(txs, tuple(ths) if name == "lstm" else ths[0])
    assert out[0].shape == tuple(tout[0].shape) and out[0].dtype == np.float32
    assert_close(out[0], tout[0], "output")
    for s, ts in zip(states(out), states(tout)):
        assert s.shape == tuple(ts.shape)
        assert_close(s, ts, "final state")
    backward_both(out, tout)
    check_grads(m, t, [(xs, txs)] + list(zip(hs, ths)))


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_no_bias_default_state_unbatched(name):
    needs_torch()
    m, t = pair(name, 3, 4, bias=False)
    assert [n for n, _ in m.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    x = randn(5, 3)
    out, tout = m(dw.tensor(x)), t(torch.from_numpy(x))
    assert out[0].shape == (5, 4)
    assert_close(out[0], tout[0], "unbatched output")
    for s, ts in zip(states(out), states(tout)):
        assert s.shape == (1, 4)
        assert_close(s, ts, "unbatched state")


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh"])
def test_dropout_between_layers(name):
    m, t = pair(name, 4, 5, num_layers=3, dropout=0.5)
    x = randn(6, 2, 4)
    m.eval()
    out = m(dw.tensor(x))
    np.testing.assert_array_equal(m(dw.tensor(x))[0].data, out[0].data)  # eval: no dropout
    m.train()
    dw.manual_seed(1)
    a = m(dw.tensor(x))[0].data
    dw.manual_seed(1)
    b = m(dw.tensor(x))[0].data
    np.testing.assert_array_equal(a, b)  # repeatable under manual_seed
    assert np.abs(a - out[0].data).max() > 1e-3  # and really dropping in training
    with pytest.warns(UserWarning, match="expects num_layers greater than 1"):
        m1 = LAYERS[name][0](4, 5, num_layers=1, dropout=0.5)  # nothing to drop after
    np.testing.assert_array_equal(m1.train()(dw.tensor(x))[0].data,
                                  m1.eval()(dw.tensor(x))[0].data)
    needs_torch()
    t.eval()
    assert_close(out[0], t(torch.from_numpy(x))[0], "eval output with dropout=0.5")


def test_parameter_names_order_init_and_repr():
    m = LSTM(3, 8, num_layers=2, bidirectional=True)
    # PyTorch's names and shapes: per layer and direction W_ih (4H, in), W_hh (4H, H), 2 biases
    expected = {}
    for layer in range(2):
        for sfx in ("", "_reverse"):
            width = 3 if layer == 0 else 16
            expected.update({f"weight_ih_l{layer}{sfx}": (32, width),
                             f"weight_hh_l{layer}{sfx}": (32, 8),
                             f"bias_ih_l{layer}{sfx}": (32,), f"bias_hh_l{layer}{sfx}": (32,)})
    assert [(n, p.shape) for n, p in m.named_parameters()] == list(expected.items())
    for p in m.parameters():
        assert p.dtype == np.float32 and np.abs(p.data).max() <= 1 / np.sqrt(8)
    big = GRU(10, 100)
    w = big.weight_hh_l0.data
    assert abs(w.std() - 0.1 / np.sqrt(3)) < 0.002  # U(-0.1, 0.1) has std 0.1/sqrt(3)
    assert repr(m) == "LSTM(3, 8, num_layers=2, bidirectional=True)"
    assert repr(RNN(2, 3, nonlinearity="relu", batch_first=True)) == \
        "RNN(2, 3, nonlinearity='relu', batch_first=True)"
    assert len(m.all_weights) == 4 and len(m.all_weights[0]) == 4
    needs_torch()
    t = torch.nn.LSTM(3, 8, num_layers=2, bidirectional=True)
    assert [(n, p.shape) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in t.named_parameters()]


def test_layer_errors_name_the_layer():
    m = LSTM(4, 5, num_layers=2)
    with pytest.raises(ShapeError, match=r"model \(LSTM 4->5\).*Expected 4, got 7"):
        m(dw.zeros(6, 3, 7))
    with pytest.raises(ShapeError, match=r"expected h_0 of shape \(2, 3, 5\).*got \(1, 3, 5\)"):
        m(dw.zeros(6, 3, 4), (dw.zeros(1, 3, 5), dw.zeros(1, 3, 5)))
    with pytest.raises(ShapeError, match="expected input of 3 dims"):
        m(dw.zeros(6))
    with pytest.raises(ValueError, match="dropout should be a number in"):
        GRU(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        RNN(2, 3, nonlinearity="sigmoid")


# ---- packed sequences and lengths ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_packed_sequence_parity(name, enforce_sorted):
    needs_torch()
    lengths = [6, 4, 4, 1] if enforce_sorted else [4, 6, 1, 4]
    m, t = pair(name, 3, 5, num_layers=2, bidirectional=True)
    x = randn(6, 4, 3, seed=4)
    xs, txs = dw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p = U.pack_padded_sequence(xs, lengths, enforce_sorted=enforce_sorted)
    tp = TU.pack_padded_sequence(txs, lengths, enforce_sorted=enforce_sorted)
    assert_close(p.data, tp.data, "packed data", 0, 0)
    assert p.batch_sizes.tolist() == tp.batch_sizes.tolist()
    if enforce_sorted:
        assert p.sorted_indices is None and tp.sorted_indices is None
    else:
        assert p.sorted_indices.tolist() == tp.sorted_indices.tolist()
        assert p.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    out, tout = m(p), t(tp)
    assert isinstance(out[0], U.PackedSequence)
    assert out[0].batch_sizes.tolist() == tout[0].batch_sizes.tolist()
    assert_close(out[0].data, tout[0].data, "packed output")
    for s, ts in zip(states(out), states(tout)):
        assert_close(s, ts, "final state (original batch order)")
    padded, lens = U.pad_packed_sequence(out[0], batch_first=True, total_length=7)
    tpadded, tlens = TU.pad_packed_sequence(tout[0], batch_first=True, total_length=7)
    assert lens.tolist() == tlens.tolist() == lengths and lens.dtype == np.int64
    assert_close(padded, tpadded, "pad_packed_sequence")
    backward_both(out, tout)
    check_grads(m, t, [(xs, txs)])


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_lengths_keyword_equals_packed_and_each_sequence_alone(name):
    """lengths= on a padded batch (a deepwise extension) gives torch's packed result; padded
    steps output 0 and change neither the final state nor any gradient."""
    lengths = [3, 6, 2]
    m, t = pair(name, 3, 4, bidirectional=True, batch_first=True)
    x = randn(3, 6, 3, seed=5)
    for b, n in enumerate(lengths):
        x[b, n:] = 77.0  # padding values must not matter
    xs = dw.tensor(x, requires_grad=True)
    out = m(xs, lengths=lengths)
    w = randn(*out[0].shape, seed=6)
    (out[0] * dw.tensor(w)).sum().backward()
    assert np.all(xs.grad.data[0, 3:] == 0) and np.all(xs.grad.data[2, 2:] == 0)
    assert np.all(out[0].data[0, 3:] == 0) and np.all(out[0].data[2, 2:] == 0)
    for b, n in enumerate(lengths):  # each sequence alone
        alone = m(dw.tensor(x[b:b + 1, :n]))
        assert_close(out[0].data[b:b + 1, :n], alone[0].data, "sequence alone")
        for s, s1 in zip(states(out), states(alone)):
            assert_close(s.data[:, b], s1.data[:, 0], "final state alone")
    needs_torch()
    txs = torch.tensor(x, requires_grad=True)
    tout = t(TU.pack_padded_sequence(txs, lengths, batch_first=True, enforce_sorted=False))
    tpad = TU.pad_packed_sequence(tout[0], batch_first=True)[0]
    assert_close(out[0], tpad, "output with lengths=")
    for s, ts in zip(states(out), states(tout)):
        assert_close(s, ts, "final state with lengths=")
    (tpad * torch.from_numpy(w)).sum().backward()
    check_grads(m, t, [(xs, txs)])


def test_pack_pad_utilities_match_torch():
    seqs = [randn(3, 2, seed=1), randn(5, 2, seed=2), randn(1, 2, seed=3)]
    ds = [dw.tensor(s, requires_grad=True) for s in seqs]
    left = U.pad_sequence(ds, batch_first=True, padding_value=-2.0, padding_side="left")
    for b, s in enumerate(seqs):  # each sequence at the end of its row, -2 before it
        np.testing.assert_array_equal(left.data[b, 5 - len(s):], s)
        assert np.all(left.data[b, :5 - len(s)] == -2.0)
    U.pad_sequence(ds).sum().backward()  # differentiable: each element used once
    assert all(np.array_equal(d.grad.data, np.ones_like(s)) for d, s in zip(ds, seqs))
    p = U.pack_sequence(ds, enforce_sorted=False)
    assert p.batch_sizes.tolist() == [3, 2, 2, 1, 1]
    for a, s in zip(U.unpack_sequence(p), seqs):
        np.testing.assert_array_equal(a.data, s)
    padded = U.pad_sequence(ds, batch_first=True)
    for a, s in zip(U.unpad_sequence(padded, [3, 5, 1], batch_first=True), seqs):
        np.testing.assert_array_equal(a.data, s)
    ints = U.pad_sequence([dw.tensor([1, 2, 3]), dw.tensor([4])], batch_first=True)
    assert ints.dtype == np.int64 and ints.tolist() == [[1, 2, 3], [4, 0, 0]]
    needs_torch()
    ts = [torch.tensor(s) for s in seqs]
    for side in ("right", "left"):
        for bf in (False, True):
            got = U.pad_sequence(ds, batch_first=bf, padding_value=-2.0, padding_side=side)
            want = TU.pad_sequence(ts, batch_first=bf, padding_value=-2.0, padding_side=side)
            assert_close(got, want, f"pad_sequence {side} batch_first={bf}", 0, 0)
    tp = TU.pack_sequence(ts, enforce_sorted=False)
    assert_close(p.data, tp.data, "pack_sequence", 0, 0)
    assert p.batch_sizes.tolist() == tp.batch_sizes.tolist()


def test_pack_errors():
    x = dw.zeros(4, 3, 2)
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        U.pack_padded_sequence(x, [2, 4, 2])
    with pytest.raises(ValueError, match="greater than 0"):
        U.pack_padded_sequence(x, [4, 0, 2], enforce_sorted=False)
    with pytest.raises(ValueError, match="exceeds the padded length 4"):
        U.pack_padded_sequence(x, [5, 4, 2])
    with pytest.raises(ValueError, match="expected 3 lengths"):
        U.pack_padded_sequence(x, [4, 2])
    with pytest.raises(ValueError, match="total_length to be at least"):
        U.pad_packed_sequence(U.pack_padded_sequence(x, [4, 3, 2]), total_length=3)
    with pytest.raises(ValueError, match="PackedSequence carries its own lengths"):
        LSTM(2, 3)(U.pack_padded_sequence(x, [4, 3, 2]), lengths=[4, 3, 2])


# ---- cells --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls,kw", [(LSTMCell, {}), (GRUCell, {}),
                                    (RNNCell, {"nonlinearity": "relu"}),
                                    (RNNCell, {"bias": False})])
def test_cell_modules_parity(cls, kw):
    needs_torch()
    t = getattr(torch.nn, cls.__name__)(3, 4, **kw)
    m = cls(3, 4, **kw)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x, h = randn(2, 3, seed=1), randn(2, 4, seed=2)
    hx = (dw.tensor(h), dw.tensor(h * 0.5)) if cls is LSTMCell else dw.tensor(h)
    thx = (torch.from_numpy(h), torch.from_numpy(h * 0.5)) if cls is LSTMCell \
        else torch.from_numpy(h)
    xs, txs = dw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = m(xs, hx), t(txs, thx)
    outs = list(out) if isinstance(out, tuple) else [out]
    touts = list(tout) if isinstance(tout, tuple) else [tout]
    for o, to in zip(outs, touts):
        assert_close(o, to, "cell output")
    sum(o.sum() for o in outs).backward()
    sum(o.sum() for o in touts).backward()
    check_grads(m, t, [(xs, txs)])
    one = m(dw.tensor(x[0]))  # unbatched, no state
    tone = t(torch.from_numpy(x[0]))
    for o, to in zip(one if isinstance(one, tuple) else [one],
                     tone if isinstance(tone, tuple) else [tone]):
        assert o.shape == (4,)
        assert_close(o, to, "unbatched cell")


def test_cell_loop_equals_layer():
    """Unrolling LSTMCell by hand over time gives nn.LSTM's output (same weights)."""
    layer, cell = LSTM(3, 4), LSTMCell(3, 4)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = dw.tensor(randn(5, 2, 3))
    out, (h_n, c_n) = layer(x)
    h = c = dw.zeros(2, 4)
    for step in range(5):
        h, c = cell(x[step], (h, c))
        assert_close(out[step], h.data, f"step {step}")
    assert_close(h_n[0], h.data, "h_n")


# ---- training --------------------------------------------------------------------------------


class CharLM(Module):
    def __init__(self, vocab, hidden, cell=LSTM):
        super().__init__()
        self.emb = Embedding(vocab, 8)
        self.rnn = cell(8, hidden, batch_first=True)
        self.out = Linear(hidden, vocab)

    def forward(self, ids, state=None):
        y, state = self.rnn(self.emb(ids), state)
        return self.out(y), state


def _detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def _graph_size(t):
    seen, stack = set(), [t.grad_fn]
    while stack:
        f = stack.pop()
        if f is None or f in seen:
            continue
        seen.add(f)
        stack.extend(i.grad_fn for i in f.inputs if i is not None)
    return len(seen)


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_truncated_bptt_learns_and_graph_does_not_grow(cell):
    """A char LM trained on chunks of one long periodic text, carrying the detached state from
    chunk to chunk: the loss falls below a bound and every chunk's graph has the same size."""
    dw.manual_seed(0)
    text = np.tile(np.array([0, 1, 2, 3, 2, 1, 4, 0, 3]), 40)  # period 9, needs memory
    data = text.reshape(4, -1)  # 4 parallel streams
    model = CharLM(5, 16, cell)
    opt = optim.Adam(model.parameters(), lr=0.02)
    chunk, state, sizes, losses = 10, None, [], []
    for _epoch in range(6):
        state = None
        for s in range(0, data.shape[1] - chunk - 1, chunk):
            inp = dw.tensor(data[:, s:s + chunk])
            tgt = dw.tensor(data[:, s + 1:s + chunk + 1])
            logits, state = model(inp, state)
            loss = cross_entropy(logits.reshape(-1, 5), tgt.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            state = _detach(state)
            assert all(st.grad_fn is None for st in (state if isinstance(state, tuple)
                                                     else (state,)))
            sizes.append(_graph_size(loss))
            losses.append(loss.item())
    assert len(set(sizes)) == 1
    assert losses[0] > 1.3 and np.mean(losses[-5:]) < 0.1
    # the control: without .detach() the next chunk's graph reaches back into this one
    logits, kept = model(dw.tensor(data[:, :chunk]), None)
    logits2, _ = model(dw.tensor(data[:, chunk:2 * chunk]), kept)
    assert _graph_size(logits2.sum()) > _graph_size(logits.sum()) + 3


def test_packed_classifier_learns():
    """A GRU reads variable-length sequences (packed) and tells whether a 3 occurred."""
    dw.manual_seed(0)
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 9, 64)
    seqs = [rng.integers(0, 3, n) for n in lengths]
    labels = rng.integers(0, 2, 64)
    for s, y in zip(seqs, labels):
        if y:
            s[rng.integers(0, len(s))] = 3
    emb, gru, head = Embedding(4, 6), GRU(6, 12), Linear(12, 2)
    params = list(emb.parameters()) + list(gru.parameters()) + list(head.parameters())
    opt = optim.Adam(params, lr=0.03)
    padded = U.pad_sequence([dw.tensor(s) for s in seqs])
    for _ in range(60):
        packed = U.pack_padded_sequence(emb(padded), lengths, enforce_sorted=False)
        _, h = gru(packed)
        loss = cross_entropy(head(h[0]), dw.tensor(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
