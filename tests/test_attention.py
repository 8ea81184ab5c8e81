"""Attention: the fused scaled dot-product op (gradcheck + PyTorch parity, mask semantics),
nn.MultiheadAttention against torch.nn.MultiheadAttention with the same weights (outputs and
gradients), positional encoding, Bahdanau and Luong attention."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SKIP_TORCH, check_op, rand, torch

import deepwise as dw
import deepwise.nn.functional as F
from deepwise import nn
from deepwise.autograd import ShapeError

if torch is not None:
    import torch.nn.functional as TF


def sdpa(**kw):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw)


def tsdpa(**kw):
    return lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, **kw)


# ---- the op -----------------------------------------------------------------------------------


def test_sdpa_plain_and_scale(kernel_path):
    q, k, v = rand(2, 3, 4), rand(2, 5, 4, seed=1), rand(2, 5, 6, seed=2)
    check_op(sdpa(), [q, k, v], tsdpa() if torch else None)
    check_op(sdpa(scale=0.7), [q, k, v], tsdpa(scale=0.7) if torch else None)


def test_sdpa_bool_mask_true_means_attend_and_full_rows_give_zero(kernel_path):
    m = np.ones((3, 5), bool)
    m[0, :2] = False
    m[1] = False  # a query with no key at all: zero weights, zero output (PyTorch 2.13 too)
    q, k, v = rand(2, 2, 3, 4), rand(2, 2, 5, 4, seed=1), rand(2, 2, 5, 6, seed=2)
    tm = torch.from_numpy(m) if torch else None
    check_op(sdpa(attn_mask=m), [q, k, v], tsdpa(attn_mask=tm) if torch else None)
    out = F.scaled_dot_product_attention(dw.tensor(q), dw.tensor(k), dw.tensor(v), attn_mask=m)
    assert np.all(out.data[:, :, 1] == 0)
    # a masked key does not change the output
    v2 = v.copy()
    v2[..., 0, :] += 5.0
    out2 = F.scaled_dot_product_attention(dw.tensor(q), dw.tensor(k), dw.tensor(v2), attn_mask=m)
    np.testing.assert_allclose(out.data[:, :, 0], out2.data[:, :, 0])


def test_sdpa_float_mask_is_added_and_gets_a_gradient(kernel_path):
    q, k, v, b = rand(2, 3, 4), rand(1, 5, 4, seed=1), rand(2, 5, 6, seed=2), rand(3, 5, seed=3)

    def fn(q, k, v, b):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=b)

    tfn = (lambda q, k, v, b: TF.scaled_dot_product_attention(q, k, v, attn_mask=b)) \
        if torch else None
    check_op(fn, [q, k, v, b], tfn)
    b = rand(2, 3, 5, seed=4)  # the scores' own shape: its gradient is dS, not dS * scale
    check_op(fn, [q, k, v, b], tfn)


def test_sdpa_causal_broadcast_batch_and_gqa(kernel_path):
    q, k, v = rand(2, 3, 4), rand(2, 5, 4, seed=1), rand(2, 5, 6, seed=2)
    check_op(sdpa(is_causal=True), [q, k, v], tsdpa(is_causal=True) if torch else None)
    q, k, v = rand(1, 4, 3, 4), rand(1, 2, 5, 4, seed=1), rand(1, 2, 5, 6, seed=2)
    check_op(sdpa(enable_gqa=True), [q, k, v], tsdpa(enable_gqa=True) if torch else None)
    q, k, v = rand(1, 3, 4), rand(1, 1, 4, seed=1), rand(1, 1, 2, seed=2)  # batch of 1, S = 1
    check_op(sdpa(), [q, k, v], tsdpa() if torch else None)


def test_sdpa_dropout_mask_is_shared_by_forward_and_backward(kernel_path):
    q, k, v = rand(2, 3, 4), rand(2, 5, 4, seed=1), rand(2, 5, 6, seed=2)

    def fn(q, k, v):
        dw.manual_seed(3)  # the same dropout mask in every call of the gradient check
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    dw.autograd.gradcheck(fn, [dw.tensor(x, dtype=np.float64, requires_grad=True)
                               for x in (q, k, v)])
    a, b = fn(*(dw.tensor(x) for x in (q, k, v))), fn(*(dw.tensor(x) for x in (q, k, v)))
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.allclose(a.data, F.scaled_dot_product_attention(
        *(dw.tensor(x) for x in (q, k, v))).data)


def test_sdpa_errors_name_the_op_and_shapes():
    q, k, v = dw.randn(2, 3, 4), dw.randn(2, 5, 4), dw.randn(2, 5, 6)
    with pytest.raises(ShapeError, match=r"scaled_dot_product_attention: query \(2, 3, 4\) and "
                                         r"key \(2, 5, 3\)"):
        F.scaled_dot_product_attention(q, dw.randn(2, 5, 3), v)
    with pytest.raises(ShapeError, match="same sequence length"):
        F.scaled_dot_product_attention(q, k, dw.randn(2, 4, 6))
    with pytest.raises(ShapeError, match="attn_mask of shape"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 4), bool))
    with pytest.raises(TypeError, match="bool .* or float"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), np.int64))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), bool), is_causal=True)
    with pytest.raises(ShapeError, match="do not broadcast"):
        F.scaled_dot_product_attention(q, dw.randn(3, 5, 4), dw.randn(3, 5, 6))


# ---- MultiheadAttention --------------------------------------------------------------------


def _load_from_torch(m: nn.Module, tm: object) -> None:
    m.load_state_dict({k: v.detach().numpy().astype(np.float64) for k, v in
                       tm.state_dict().items()})


def _compare_grads(m: nn.Module, tm: object, pairs: list, tol: float = 1e-4) -> None:
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        tp = tparams[name]
        assert (p.grad is None) == (tp.grad is None), name
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=tol, atol=tol,
                                       err_msg=f"gradient of {name}")
    for a, b in pairs:
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=tol, atol=tol)


def _pair(*shape: int, seed: int) -> tuple:
    x = rand(*shape, seed=seed)
    return (dw.tensor(x, dtype=np.float64, requires_grad=True),
            torch.tensor(x, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["self", "cross", "kvdim", "bias_kv_zero_attn"])
def test_mha_matches_pytorch(kind: str, batch_first: bool, kernel_path):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    torch.manual_seed(0)
    e, h, n, n_l, n_s = 8, 2, 3, 4, 5
    kw = dict(kdim=6, vdim=7) if kind == "kvdim" else {}
    if kind == "bias_kv_zero_attn":
        kw = dict(add_bias_kv=True, add_zero_attn=True)
    tm = torch.nn.MultiheadAttention(e, h, batch_first=batch_first, **kw).double()
    m = nn.MultiheadAttention(e, h, batch_first=batch_first, dtype=np.float64, **kw)
    _load_from_torch(m, tm)
    assert [k for k, _ in m.named_parameters()] == [k for k, _ in tm.named_parameters()]

    def shape(t: int, d: int) -> tuple:
        return (n, t, d) if batch_first else (t, n, d)

    q, tq = _pair(*shape(n_l, e), seed=1)
    if kind == "self":
        k, tk, v, tv = q, tq, q, tq
    else:
        k, tk = _pair(*shape(n_s, kw.get("kdim", e)), seed=2)
        v, tv = _pair(*shape(n_s, kw.get("vdim", e)), seed=3)
    s = tk.shape[1 if batch_first else 0]
    kpm = np.zeros((n, s), bool)
    kpm[0, -2:] = True
    am = np.triu(np.ones((n_l, s), bool), 1)
    out, w = m(q, k, v, key_padding_mask=kpm, attn_mask=am)
    tout, tw = tm(tq, tk, tv, key_padding_mask=torch.from_numpy(kpm),
                  attn_mask=torch.from_numpy(am))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-9, atol=1e-10)
    g = rand(*out.shape, seed=9)
    gw = rand(*w.shape, seed=10)
    ((out * dw.tensor(g)).sum() + (w * dw.tensor(gw)).sum()).backward()
    ((tout * torch.from_numpy(g)).sum() + (tw * torch.from_numpy(gw)).sum()).backward()
    pairs = [(q, tq)] if kind == "self" else [(q, tq), (k, tk), (v, tv)]
    _compare_grads(m, tm, pairs, tol=1e-8)


def test_mha_float_masks_per_head_weights_unbatched_and_no_bias(kernel_path):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    torch.manual_seed(1)
    e, h, n, n_l = 6, 3, 2, 4
    tm = torch.nn.MultiheadAttention(e, h, bias=False, batch_first=True).double()
    m = nn.MultiheadAttention(e, h, bias=False, batch_first=True, dtype=np.float64)
    _load_from_torch(m, tm)
    x, tx = _pair(n, n_l, e, seed=4)
    am = rand(n * h, n_l, n_l, seed=5)
    kpm = np.where(np.arange(n_l) >= np.array([[4], [2]]), -np.inf, 0.0)
    out, w = m(x, x, x, attn_mask=am, key_padding_mask=kpm, average_attn_weights=False)
    tout, tw = tm(tx, tx, tx, attn_mask=torch.from_numpy(am),
                  key_padding_mask=torch.from_numpy(kpm), average_attn_weights=False)
    assert w.shape == (n, h, n_l, n_l)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-9, atol=1e-10)
    out.sum().backward()
    tout.sum().backward()
    _compare_grads(m, tm, [(x, tx)], tol=1e-8)
    # unbatched (L, E), need_weights=False
    u, tu = _pair(n_l, e, seed=6)
    out, w = m(u, u, u, need_weights=False)
    assert w is None
    np.testing.assert_allclose(out.data, tm(tu, tu, tu, need_weights=False)[0].detach().numpy(),
                               rtol=1e-9, atol=1e-10)


def test_mha_gradcheck_and_dropout_only_in_training(kernel_path):
    m = nn.MultiheadAttention(4, 2, kdim=3, batch_first=True, dtype=np.float64)
    q = dw.tensor(rand(2, 3, 4), requires_grad=True)
    kv = dw.tensor(rand(2, 5, 3, seed=1), requires_grad=True)
    vv = dw.tensor(rand(2, 5, 4, seed=2), requires_grad=True)
    kpm = np.array([[False] * 5, [False, False, False, True, True]])
    dw.autograd.gradcheck(lambda q, k, v: m(q, k, v, key_padding_mask=kpm)[0], [q, kv, vv])
    md = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True)
    x = dw.randn(2, 6, 4)
    a, b = md(x, x, x)[0], md(x, x, x)[0]
    assert not np.allclose(a.data, b.data)  # training: dropout on the weights
    md.eval()
    np.testing.assert_array_equal(md(x, x, x)[0].data, md(x, x, x)[0].data)


def test_mha_errors():
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = dw.randn(2, 3, 8)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(ShapeError, match=r"expected query \(\.\.\., 8\)"):
        m(dw.randn(2, 3, 7), x, x)
    with pytest.raises(ShapeError, match=r"key_padding_mask must be \(N, S\) = \(2, 3\)"):
        m(x, x, x, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ShapeError, match=r"attn_mask must be \(L, S\)"):
        m(x, x, x, attn_mask=np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ShapeError, match="different batch sizes"):
        m(x, dw.randn(3, 3, 8), dw.randn(3, 3, 8))


# ---- positional encoding and RNN attention --------------------------------------------------


def test_sinusoidal_encoding_formula_and_relative_positions():
    pe = nn.attention.sinusoidal_encoding(50, 16, np.float64)
    t, i = 7, 3
    assert pe[t, 2 * i] == pytest.approx(np.sin(t / 10000 ** (2 * i / 16)))
    assert pe[t, 2 * i + 1] == pytest.approx(np.cos(t / 10000 ** (2 * i / 16)))
    # PE[t + k] is a rotation of PE[t] (per frequency), so offsets are linear in the encoding
    k = 5
    w = 1 / 10000 ** (2 * i / 16)
    rot = np.array([[np.cos(k * w), -np.sin(k * w)], [np.sin(k * w), np.cos(k * w)]])
    np.testing.assert_allclose(pe[t, 2 * i:2 * i + 2] @ rot, pe[t + k, 2 * i:2 * i + 2],
                               atol=1e-12)
    odd = nn.attention.sinusoidal_encoding(3, 5)  # odd d_model works
    assert odd.shape == (3, 5) and odd.dtype == np.float32
    enc = nn.PositionalEncoding(16, dropout=0.0, max_len=20, batch_first=True)
    x = dw.zeros(2, 7, 16)
    np.testing.assert_allclose(enc(x).data[1], pe[:7], atol=1e-6)
    with pytest.raises(ShapeError, match="longer than max_len = 20"):
        enc(dw.zeros(2, 21, 16))


def _ref_attention(scores: np.ndarray, values: np.ndarray, mask: np.ndarray) -> tuple:
    s = np.where(mask[:, None], -np.inf, scores)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return w @ values, w


def test_bahdanau_attention_formula_mask_and_gradcheck():
    att = nn.BahdanauAttention(6, 4, 5, dtype=np.float64)
    q, keys = rand(2, 3, 6), rand(2, 5, 4, seed=1)
    mask = np.zeros((2, 5), bool)
    mask[1, 3:] = True
    ctx, w = att(dw.tensor(q), dw.tensor(keys), key_padding_mask=mask)
    wq, wk, bk = att.query_proj.weight.data, att.key_proj.weight.data, att.key_proj.bias.data
    v = att.v.weight.data[0]
    scores = np.tanh((q @ wq.T)[:, :, None] + (keys @ wk.T + bk)[:, None]) @ v
    rc, rw = _ref_attention(scores, keys, mask)
    np.testing.assert_allclose(ctx.data, rc, atol=1e-12)
    np.testing.assert_allclose(w.data, rw, atol=1e-12)
    assert np.all(w.data[1, :, 3:] == 0)
    vals = rand(2, 5, 3, seed=2)
    dw.autograd.gradcheck(lambda q, k, v: att(q, k, v, key_padding_mask=mask)[0],
                          [dw.tensor(x, requires_grad=True) for x in (q, keys, vals)])
    c1, w1 = att(dw.tensor(q[:, 0]), dw.tensor(keys))  # one decoder step: (N, query_size)
    assert c1.shape == (2, 4) and w1.shape == (2, 5)
    with pytest.raises(ShapeError, match=r"expected keys \(N, S, 4\)"):
        att(dw.tensor(q), dw.tensor(rand(2, 5, 3)))


@pytest.mark.parametrize("score", ["general", "dot"])
def test_luong_attention_formula_mask_and_gradcheck(score: str):
    att = nn.LuongAttention(4, 4, score=score, dtype=np.float64)
    q, keys, vals = rand(2, 3, 4), rand(2, 5, 4, seed=1), rand(2, 5, 3, seed=2)
    mask = np.zeros((2, 5), bool)
    mask[0, 4:] = True
    ctx, w = att(dw.tensor(q), dw.tensor(keys), dw.tensor(vals), key_padding_mask=mask)
    wm = np.eye(4) if att.weight is None else att.weight.data
    rc, rw = _ref_attention(q @ wm @ keys.transpose(0, 2, 1), vals, mask)
    np.testing.assert_allclose(ctx.data, rc, atol=1e-12)
    np.testing.assert_allclose(w.data, rw, atol=1e-12)
    dw.autograd.gradcheck(lambda q, k, v: att(q, k, v, key_padding_mask=mask)[0],
                          [dw.tensor(x, requires_grad=True) for x in (q, keys, vals)])
    with pytest.raises(ValueError, match="'dot' score needs"):
        nn.LuongAttention(4, 3, score="dot")


# ---- the compiled softmax path against the NumPy path ------------------------------------------


def _sdpa_both_paths(q, k, v, bias, scale, need_weights=False, gw=None):
    """(out, weights, dq, dk, dv, dbias) of ScaledDotProductAttention, NumPy path and kernels."""
    from deepwise import kernels
    from deepwise.ops.attention import ScaledDotProductAttention

    res = []
    for on in (False, True):
        with kernels.use_numba(on):
            ts = [dw.from_numpy(x.copy()).requires_grad_(True) for x in (q, k, v)]
            b = None if bias is None else dw.from_numpy(bias.copy()).requires_grad_(True)
            o = ScaledDotProductAttention.apply(*ts, b, scale=scale, need_weights=need_weights)
            o, w = o if need_weights else (o, None)
            loss = (o * dw.from_numpy(np.cos(np.arange(o.data.size)).reshape(o.shape)
                                      .astype(o.dtype))).sum()
            if w is not None:
                loss = loss + (w * dw.from_numpy(gw.astype(w.dtype))).sum()
            loss.backward()
            res.append([o.data, None if w is None else w.data] + [t.grad.data for t in ts]
                       + [None if b is None else b.grad.data])
    return res


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["mha_views", "mask_rows", "grad_bias", "3d_weights"])
def test_sdpa_kernel_equals_numpy_path(dtype, case):
    from deepwise import kernels

    if not kernels.available():
        pytest.skip("numba is not installed: only the NumPy path is tested")
    rng = np.random.default_rng(0)
    n, h, n_l, n_s, e = 3, 2, 5, 7, 4
    bias, need, gw = None, False, None
    if case in ("mha_views", "mask_rows", "grad_bias"):
        # q, k, v as nn.MultiheadAttention passes them: (N, H, T, d) views of (N, T, 3 H d)
        qkv = rng.standard_normal((n, n_s, 3 * h * e)).astype(dtype)
        q, k, v = (qkv[..., i * h * e:(i + 1) * h * e].reshape(n, n_s, h, e).transpose(0, 2, 1, 3)
                   for i in range(3))
        q = q[:, :, :n_l]
    else:
        q, k, v = (rng.standard_normal(s).astype(dtype) for s in ((6, n_l, e), (6, n_s, e),
                                                                  (6, n_s, 3)))
        need, gw = True, rng.standard_normal((6, n_l, n_s))
    if case == "mask_rows":  # a key padding bias (N, 1, 1, S) and a causal (L, S) one
        pad = np.zeros((n, 1, 1, n_s), dtype)
        pad[0, ..., 4:] = -np.inf
        causal = np.where(np.tri(n_l, n_s, dtype=bool), 0, -np.inf).astype(dtype)
        causal[2] = -np.inf  # a query that sees no key: zero weights and output
        bias = pad + causal
    if case == "grad_bias":
        bias = rng.standard_normal((h, n_l, n_s)).astype(dtype)
    ref, fast = _sdpa_both_paths(q, k, v, bias, 0.37, need, gw)
    tol = dict(rtol=2e-6, atol=2e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    for a, b in zip(ref, fast):
        if a is None:
            assert b is None
            continue
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(b, a, **tol)
    if case == "mask_rows":
        assert np.all(fast[0][:, :, 2] == 0) and np.all(np.isfinite(fast[2]))


def test_sdpa_output_memory_lets_the_head_merge_be_a_view(kernel_path):
    """The (N, H, L, E) output lies in (N, L, H, E) memory: transpose(1, 2).reshape is free."""
    q, k, v = (dw.tensor(rand(2, 3, 4, 5, seed=i).astype(np.float32)) for i in range(3))
    out = F.scaled_dot_product_attention(q, k, v).data
    merged = out.transpose(0, 2, 1, 3).reshape(2, 4, 15)
    assert np.shares_memory(merged, out)
