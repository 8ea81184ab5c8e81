"""The Transformer layers against torch.nn's with the same weights: a PyTorch state dict loads
and gives the same outputs and the same gradients (inputs and every parameter), post- and
pre-norm, relu/gelu/callable, masks, batch_first; plus a gradient check, dropout and errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SKIP_TORCH, rand, torch

import deepwise as dw
from deepwise import nn

TOL = 1e-8  # float64 on both sides
# PyTorch warns when a float causal mask meets a bool padding mask; deepwise takes both as given
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")


def _pair(*shape: int, seed: int) -> tuple:
    x = rand(*shape, seed=seed)
    return (dw.tensor(x, dtype=np.float64, requires_grad=True),
            torch.tensor(x, dtype=torch.float64, requires_grad=True))


def _load(m: nn.Module, tm: object) -> None:
    state = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    result = m.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys


def _check(m: nn.Module, tm: object, out: dw.Tensor, tout: object, pairs: list) -> None:
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=TOL, atol=TOL)
    g = rand(*out.shape, seed=99)
    (out * dw.tensor(g)).sum().backward()
    (tout * torch.from_numpy(g)).sum().backward()
    tparams = dict(tm.named_parameters())
    assert sorted(tparams) == sorted(k for k, _ in m.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.data, tparams[name].grad.numpy(), rtol=TOL, atol=TOL,
                                   err_msg=f"gradient of {name}")
    for a, b in pairs:
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=TOL, atol=TOL)


def _padding(n: int, s: int, lengths: list[int]) -> np.ndarray:
    return np.arange(s)[None] >= np.array(lengths)[:, None]


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_pytorch(norm_first: bool, activation: str):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    torch.manual_seed(0)
    kw = dict(d_model=8, nhead=2, dim_feedforward=12, dropout=0.0, activation=activation,
              batch_first=True, norm_first=norm_first)
    tm = torch.nn.TransformerEncoderLayer(**kw).double()
    m = nn.TransformerEncoderLayer(**kw, dtype=np.float64)
    _load(m, tm)
    x, tx = _pair(3, 5, 8, seed=1)
    kpm = _padding(3, 5, [5, 3, 4])
    mask = np.triu(np.ones((5, 5), bool), 1)
    out = m(x, src_mask=mask, src_key_padding_mask=kpm)
    tout = tm(tx, src_mask=torch.from_numpy(mask), src_key_padding_mask=torch.from_numpy(kpm))
    _check(m, tm, out, tout, [(x, tx)])


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_pytorch(norm_first: bool):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    torch.manual_seed(1)
    kw = dict(d_model=8, nhead=4, dim_feedforward=10, dropout=0.0, norm_first=norm_first)
    tm = torch.nn.TransformerDecoderLayer(**kw).double()
    m = nn.TransformerDecoderLayer(**kw, dtype=np.float64)
    _load(m, tm)
    y, ty = _pair(4, 2, 8, seed=2)  # (T, N, E): batch_first=False
    mem, tmem = _pair(6, 2, 8, seed=3)
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype=np.float64)
    tpm, mpm = _padding(2, 4, [4, 2]), _padding(2, 6, [6, 3])
    out = m(y, mem, tgt_mask=causal, tgt_key_padding_mask=tpm, memory_key_padding_mask=mpm,
            tgt_is_causal=True)
    tout = tm(ty, tmem, tgt_mask=torch.from_numpy(causal.data),
              tgt_key_padding_mask=torch.from_numpy(tpm),
              memory_key_padding_mask=torch.from_numpy(mpm), tgt_is_causal=True)
    _check(m, tm, out, tout, [(y, ty), (mem, tmem)])


def test_transformer_state_dict_from_pytorch_same_outputs_and_gradients():
    if torch is None:
        pytest.skip(SKIP_TORCH)
    torch.manual_seed(2)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
              dim_feedforward=16, dropout=0.0, batch_first=True)
    tm = torch.nn.Transformer(**kw).double()
    m = nn.Transformer(**kw, dtype=np.float64)
    _load(m, tm)
    src, tsrc = _pair(2, 5, 8, seed=4)
    tgt, ttgt = _pair(2, 4, 8, seed=5)
    spm, tpm = _padding(2, 5, [5, 2]), _padding(2, 4, [3, 4])
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype=np.float64)
    out = m(src, tgt, tgt_mask=causal, src_key_padding_mask=spm, tgt_key_padding_mask=tpm,
            memory_key_padding_mask=spm)
    tout = tm(tsrc, ttgt, tgt_mask=torch.from_numpy(causal.data),
              src_key_padding_mask=torch.from_numpy(spm),
              tgt_key_padding_mask=torch.from_numpy(tpm),
              memory_key_padding_mask=torch.from_numpy(spm))
    _check(m, tm, out, tout, [(src, tsrc), (tgt, ttgt)])


def test_generate_square_subsequent_mask_matches_pytorch():
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    expected = np.triu(np.full((4, 4), -np.inf), 1)
    np.testing.assert_array_equal(mask.data, expected)
    assert mask.dtype == np.float32
    if torch is not None:
        np.testing.assert_array_equal(
            mask.data, torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())


def test_causal_mask_makes_the_past_independent_of_the_future():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    x = dw.randn(1, 6, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    y1 = layer(x, src_mask=mask).data
    x2 = x.data.copy()
    x2[0, 4:] += 3.0
    y2 = layer(dw.tensor(x2), src_mask=mask).data
    np.testing.assert_allclose(y1[0, :4], y2[0, :4], atol=1e-5)
    assert not np.allclose(y1[0, 4:], y2[0, 4:])


def test_encoder_gradcheck_callable_activation_and_dropout():
    enc = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation=lambda t: t.tanh(),
                                   norm_first=True, dtype=np.float64),
        num_layers=2, norm=nn.LayerNorm(4, dtype=np.float64))
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight  # deep copies
    x = dw.tensor(rand(3, 2, 4), requires_grad=True)  # (S, N, E)
    kpm = np.array([[False, False, True], [False, False, False]])
    dw.autograd.gradcheck(lambda x: enc(x, src_key_padding_mask=kpm), [x])
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3)
    x = dw.randn(5, 2, 8)
    assert not np.allclose(layer(x).data, layer(x).data)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="activation should be relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
    model = nn.Transformer(8, 2, 1, 1, 16, batch_first=True)
    with pytest.raises(ValueError, match="batch number of src"):
        model(dw.randn(2, 5, 8), dw.randn(3, 4, 8))
    with pytest.raises(ValueError, match="d_model = 8"):
        model(dw.randn(2, 5, 6), dw.randn(2, 4, 6))
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(dw.autograd.ShapeError, match=r"self_attn.*expected query \(\.\.\., 8\)"):
        layer(dw.randn(2, 5, 7))
