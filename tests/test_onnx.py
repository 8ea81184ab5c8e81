"""deepwise.onnx.export: every layer family exported and run in onnxruntime against deepwise's
own output; SmallCNN and CharRNN give the same predictions there as in deepwise."""

import io as pyio

import numpy as np
import pytest

import deepwise as dw
import deepwise.onnx
from deepwise import models, nn


def _session(model, args, **kw):
    ort = pytest.importorskip("onnxruntime", reason="the exported models are checked in "
                              "onnxruntime (pip install onnx onnxruntime)")
    pytest.importorskip("onnx", reason="deepwise.onnx.export needs onnx (pip install onnx)")
    buf = pyio.BytesIO()
    deepwise.onnx.export(model, args, buf, **kw)
    return ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])


def _check(model, shape_or_x, other=None, rtol=1e-4, atol=1e-5):
    """Export on one input, run onnxruntime on another (a new batch size where the axis is
    dynamic) and compare with deepwise's output."""
    model.eval()
    x = shape_or_x if isinstance(shape_or_x, dw.Tensor) else dw.randn(*shape_or_x)
    y = other if other is not None else x
    sess = _session(model, x, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    got = sess.run(None, {"x": y.data})
    want = model(y)
    want = [want] if isinstance(want, dw.Tensor) else list(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.data, rtol=rtol, atol=atol)


def _bn(layer, c):
    """A BatchNorm with non-trivial running statistics and affine weights."""
    rng = np.random.default_rng(0)
    layer.running_mean.data[...] = rng.standard_normal(c)
    layer.running_var.data[...] = rng.uniform(0.5, 2.0, c)
    layer.weight.data.uniform_(0.5, 1.5)
    layer.bias.data.uniform_(-0.5, 0.5)
    return layer


LAYERS = {
    "linear": lambda: (nn.Linear(4, 3), (2, 4)),
    "linear_3d": lambda: (nn.Linear(4, 3, bias=False), (2, 5, 4)),
    "conv1d": lambda: (nn.Conv1d(2, 3, 3, stride=2, padding=1), (2, 2, 9)),
    "conv2d": lambda: (nn.Conv2d(2, 4, 3, padding=1, dilation=1, groups=2), (2, 2, 6, 6)),
    "maxpool": lambda: (nn.MaxPool2d(2), (2, 3, 6, 6)),
    "maxpool_pad": lambda: (nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 7)),
    "avgpool": lambda: (nn.AvgPool2d(2, stride=1, padding=1), (2, 3, 5, 5)),
    "global_avgpool": lambda: (nn.AdaptiveAvgPool2d(1), (2, 3, 5, 4)),
    "batchnorm1d": lambda: (_bn(nn.BatchNorm1d(4), 4), (3, 4)),
    "batchnorm2d": lambda: (_bn(nn.BatchNorm2d(3), 3), (2, 3, 4, 4)),
    "layernorm": lambda: (nn.LayerNorm(5), (2, 3, 5)),
    "activations": lambda: (nn.Sequential(nn.ReLU(), nn.Linear(4, 4), nn.Tanh(),
                                          nn.Linear(4, 4), nn.Sigmoid(), nn.LeakyReLU(0.1),
                                          nn.ELU(), nn.GELU(), nn.SiLU(), nn.Softplus()),
                            (3, 4)),
    "softmax": lambda: (nn.Sequential(nn.Linear(4, 5), nn.LogSoftmax(dim=1)), (3, 4)),
    "dropout_flatten": lambda: (nn.Sequential(nn.Dropout2d(), nn.Flatten(), nn.Dropout(0.5)),
                                (2, 3, 2, 2)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_families_match_in_onnxruntime(name):
    dw.manual_seed(0)
    model, shape = LAYERS[name]()
    _check(model, shape, dw.randn(5, *shape[1:]))


def test_embedding_lstm_gru_gate_orders():
    dw.manual_seed(0)

    class Tagger(nn.Module):
        def __init__(self, rnn):
            super().__init__()
            self.embed, self.rnn, self.head = nn.Embedding(20, 6), rnn, nn.Linear(
                rnn.hidden_size * (2 if rnn.bidirectional else 1), 3)

        def forward(self, ids):
            out, _ = self.rnn(self.embed(ids))
            return self.head(out)

    for rnn in (nn.LSTM(6, 5, num_layers=2), nn.GRU(6, 5, batch_first=True, bidirectional=True),
                nn.LSTM(6, 4, batch_first=True, bidirectional=True)):
        model = Tagger(rnn).eval()
        ids = dw.randint(0, 20, (4, 7))
        sess = _session(model, ids, input_names=["ids"])
        np.testing.assert_allclose(sess.run(None, {"ids": ids.data})[0], model(ids).data,
                                   rtol=1e-4, atol=1e-5)


def test_ops_between_layers_and_buffers():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
            self.register_buffer("offset", dw.randn(8))

        def forward(self, x):
            h = self.a(x.view(x.shape[0], -1))
            return dw.cat([self.b(h) + h, (h * h) @ self.b.weight.T], dim=1) + self.offset

    _check(Net(), (3, 2, 2), dw.randn(6, 2, 2))


def test_small_cnn_and_char_rnn_predict_the_same():
    dw.manual_seed(0)
    cnn = models.SmallCNN().eval()
    x = dw.randn(16, 1, 28, 28)
    sess = _session(cnn, x[:2], input_names=["image"], output_names=["logits"],
                    dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    logits = sess.run(None, {"image": x.data})[0]
    np.testing.assert_array_equal(logits.argmax(1), cnn(x).data.argmax(1))
    np.testing.assert_allclose(logits, cnn(x).data, rtol=1e-4, atol=1e-5)
    rnn = models.CharRNN(30, embed_dim=8, hidden_size=16, num_layers=2).eval()
    ids = dw.randint(0, 30, (9, 3))
    sess = _session(rnn, ids[:4, :2], input_names=["ids"], output_names=["logits", "h", "c"],
                    dynamic_axes={"ids": {0: "T", 1: "B"}, "logits": {0: "T", 1: "B"},
                                  "h": {1: "B"}, "c": {1: "B"}})
    got = sess.run(None, {"ids": ids.data})
    want, (h, c) = rnn(ids)
    np.testing.assert_array_equal(got[0].argmax(-1), want.data.argmax(-1))
    for g, w in zip(got, (want, h, c)):
        np.testing.assert_allclose(g, w.data, rtol=1e-4, atol=1e-5)


def test_unsupported_parts_are_named(tmp_path):
    pytest.importorskip("onnx", reason="deepwise.onnx.export needs onnx (pip install onnx)")
    with pytest.raises(deepwise.onnx.ExportError, match="AdaptiveAvgPool2d to 2"):
        deepwise.onnx.export(nn.AdaptiveAvgPool2d(2), dw.randn(1, 1, 4, 4), tmp_path / "a.onnx")

    class Odd(nn.Module):
        def forward(self, x):
            return dw.exp(x)

    with pytest.raises(deepwise.onnx.ExportError, match=r"the op Exp .* is run outside a layer"):
        deepwise.onnx.export(Odd(), dw.randn(2, 2), tmp_path / "b.onnx")
    assert list(tmp_path.iterdir()) == []
    deepwise.onnx.export(nn.Linear(2, 2), dw.randn(1, 2), tmp_path / "ok.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["ok.onnx"]


# ---- attention and Transformer layers ----------------------------------------------------------

def _run(model, args, names, feeds=None, dynamic_axes=None):
    """Export ``model`` on ``args``; onnxruntime's outputs on ``feeds`` (default: the same)
    against deepwise's."""
    model.eval()
    sess = _session(model, args, input_names=names, dynamic_axes=dynamic_axes)
    feeds = feeds or args
    got = sess.run(None, {n: a.data for n, a in zip(names, feeds)})
    want = model(*feeds)
    want = [w for w in (want if isinstance(want, tuple) else (want,)) if w is not None]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w.data, rtol=1e-4, atol=1e-5)


class _Attend(nn.Module):
    """Attention as a model calls it: masks and options by keyword."""

    def __init__(self, mha, **call):
        super().__init__()
        self.mha, self.call = mha, call

    def forward(self, q, k, v):
        return self.mha(q, k, v, **self.call)


def test_multihead_attention_in_onnxruntime():
    dw.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    mha.in_proj_bias.data.uniform_(-0.5, 0.5)
    x = dw.randn(2, 5, 8)
    # self-attention with the weights; a new batch size and sequence length in onnxruntime
    _run(_Attend(mha), (x, x, x), ["q", "k", "v"], (dw.randn(3, 7, 8),) * 3,
         {n: {0: "batch", 1: "time"} for n in "qkv"})
    # cross-attention with kdim/vdim, sequence first, a padding mask, weights per head
    cross = nn.MultiheadAttention(8, 2, kdim=6, vdim=5)
    pad = np.array([[False, False, False, True], [False, False, False, False]])
    _run(_Attend(cross, key_padding_mask=dw.tensor(pad), average_attn_weights=False),
         (dw.randn(3, 2, 8), dw.randn(4, 2, 6), dw.randn(4, 2, 5)), ["q", "k", "v"])
    # a causal float mask, no weights
    causal = nn.Transformer.generate_square_subsequent_mask(4)
    _run(_Attend(nn.MultiheadAttention(8, 4, batch_first=True, bias=False), attn_mask=causal,
                 need_weights=False), (dw.randn(2, 4, 8),) * 3, ["q", "k", "v"])
    # unbatched (L, E) inputs, with a causal mask and a zero key/value appended
    _run(_Attend(nn.MultiheadAttention(8, 2, add_zero_attn=True), attn_mask=causal),
         (dw.randn(4, 8),) * 3, ["q", "k", "v"])
    # add_bias_kv and add_zero_attn with a padding mask (the appended keys are never masked),
    # weights per head
    both = nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True)
    _run(_Attend(both, key_padding_mask=dw.tensor(pad[:, 1:]), average_attn_weights=False),
         (dw.randn(3, 2, 8),) * 3, ["q", "k", "v"])
    # add_bias_kv with kdim/vdim, batch first: a new batch size and lengths in onnxruntime
    kv = nn.MultiheadAttention(6, 3, add_bias_kv=True, batch_first=True, kdim=5, vdim=4)
    _run(_Attend(kv), (dw.randn(2, 3, 6), dw.randn(2, 4, 5), dw.randn(2, 4, 4)), ["q", "k", "v"],
         (dw.randn(5, 2, 6), dw.randn(5, 7, 5), dw.randn(5, 7, 4)),
         {"q": {0: "batch", 1: "time"}, "k": {0: "batch", 1: "source"},
          "v": {0: "batch", 1: "source"}})


@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_and_decoder_layers_in_onnxruntime(norm_first, activation):
    dw.manual_seed(1)
    kw = dict(dim_feedforward=16, norm_first=norm_first, activation=activation)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, batch_first=True, **kw), 2,
                                nn.LayerNorm(8))
    _run(enc, (dw.randn(2, 5, 8),), ["src"], (dw.randn(4, 5, 8),), {"src": {0: "batch"}})

    class Decode(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerDecoderLayer(8, 2, **kw)

        def forward(self, tgt, memory):
            mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[0])
            return self.layer(tgt, memory, tgt_mask=mask)

    _run(Decode(), (dw.randn(4, 2, 8), dw.randn(6, 2, 8)), ["tgt", "memory"])


def test_whole_transformer_in_onnxruntime():
    dw.manual_seed(2)

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 8)
            self.tr = nn.Transformer(8, 2, 2, 1, 16, batch_first=True)
            self.out = nn.Linear(8, 11)

        def forward(self, src, tgt):
            mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
            return self.out(self.tr(self.emb(src), self.emb(tgt), tgt_mask=mask))

    src = dw.tensor(np.random.default_rng(0).integers(0, 11, (2, 6)))
    tgt = dw.tensor(np.random.default_rng(1).integers(0, 11, (2, 3)))
    model = Seq2Seq().eval()
    _run(model, (src, tgt), ["src", "tgt"])
    sess = _session(model, (src, tgt), input_names=["src", "tgt"])
    logits = sess.run(None, {"src": src.data, "tgt": tgt.data})[0]
    assert np.array_equal(logits.argmax(-1), model(src, tgt).data.argmax(-1))
