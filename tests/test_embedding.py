"""Embedding: the lookup op (gradcheck, PyTorch parity with repeated indices, padding_idx,
max_norm, scale_grad_by_freq, both scatter-add paths, errors) and the nn.Embedding layer."""

import importlib

import numpy as np
import pytest
from helpers import check_op, rand, torch

import deepwise as dw
from deepwise import optim
from deepwise.autograd import ShapeError
from deepwise.nn.sparse import Embedding

# the module itself: the attribute deepwise.ops.embedding is the function of the same name
E = importlib.import_module("deepwise.ops.embedding")

IDX = np.array([[1, 4, 1, 0], [4, 4, 2, 1], [0, 3, 1, 1]])  # repeats, every row but one used


def _tf():
    return torch.nn.functional


@pytest.mark.parametrize("padding_idx", [None, 1, -1])
def test_embedding_gradcheck_and_parity(padding_idx):
    """With padding_idx the row's gradient is 0 by design (not the true derivative), so the
    finite-difference check runs without it; parity with PyTorch covers it."""
    w = rand(5, 3, seed=1)
    check_op(lambda i, w: E.embedding(i, w, padding_idx=padding_idx), [IDX, w],
             (lambda i, w: _tf().embedding(i, w, padding_idx=padding_idx))
             if torch is not None else None, check_grad=padding_idx is None)


def test_embedding_non_contiguous_weight_and_1d_and_scalar_index():
    w = rand(3, 6, seed=2).T  # (6, 3) transposed view
    check_op(lambda i, w: E.embedding(i, w), [np.array([5, 0, 5, 2]), w],
             (lambda i, w: _tf().embedding(i, w)) if torch is not None else None)
    out = E.embedding(dw.tensor(2), dw.tensor(w))
    assert out.shape == (3,)
    np.testing.assert_array_equal(out.data, w[2])


def test_repeated_indices_accumulate_and_padding_row_gets_none():
    w = dw.tensor(rand(5, 2), requires_grad=True)
    E.embedding(IDX, w, padding_idx=0).sum().backward()
    counts = np.bincount(IDX.ravel(), minlength=5).astype(float)
    counts[0] = 0
    np.testing.assert_allclose(w.grad.data, np.repeat(counts[:, None], 2, axis=1))


@pytest.mark.parametrize("onehot_rows", [0, 1000])
def test_both_scatter_add_paths(monkeypatch, onehot_rows):
    """The one-hot GEMM (small vocabularies) and bincount (large ones) give np.add.at's sum."""
    monkeypatch.setattr(E, "_ONEHOT_ROWS", onehot_rows)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 50, 300)
    g = rng.standard_normal((300, 7)).astype(np.float32)
    want = np.zeros((50, 7), np.float32)
    np.add.at(want, idx, g)
    got = E._scatter_rows(idx, g, 50)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_scale_grad_by_freq_parity():
    if torch is None:
        pytest.skip("PyTorch is not installed")
    w = rand(5, 3, seed=3)
    check_op(lambda i, w: E.embedding(i, w, scale_grad_by_freq=True), [IDX, w],
             lambda i, w: _tf().embedding(i, w, scale_grad_by_freq=True), check_grad=False)


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_max_norm_renormalises_referenced_rows_in_place_like_torch(norm_type):
    w0 = (rand(6, 4, seed=4) * 3).astype(np.float32)
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    w = dw.tensor(w0.copy(), requires_grad=True)
    out = E.embedding(idx, w, max_norm=1.5, norm_type=norm_type)
    norms = np.linalg.norm(w.data, ord=norm_type, axis=1)
    assert np.all(norms[[0, 1, 2, 5]] <= 1.5 + 1e-5)
    np.testing.assert_array_equal(w.data[[3, 4]], w0[[3, 4]])  # rows not looked up: untouched
    if torch is None:
        return
    tw = torch.tensor(w0.copy(), requires_grad=True)
    tout = _tf().embedding(torch.from_numpy(idx), tw, max_norm=1.5, norm_type=norm_type)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-6, atol=1e-6)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(w.grad.data, tw.grad.numpy())


def test_errors():
    w = dw.tensor(rand(5, 3))
    with pytest.raises(IndexError, match=r"index 7 is out of range for a vocabulary of 5 rows"):
        E.embedding(np.array([1, 7, 2]), w)
    with pytest.raises(IndexError, match=r"max index in input: 7"):
        E.embedding(np.array([1, 7, 2]), w)
    with pytest.raises(IndexError, match="index -1"):
        E.embedding(np.array([-1, 2]), w)
    with pytest.raises(TypeError, match="indices must be integers"):
        E.embedding(np.array([1.0, 2.0]), w)
    with pytest.raises(ShapeError, match=r"weight must be 2-D"):
        E.embedding(np.array([1]), dw.tensor(rand(5)))
    with pytest.raises(ValueError, match="padding_idx 5 must be within"):
        E.embedding(np.array([1]), w, padding_idx=5)


# ---- the layer ----------------------------------------------------------------------------------


def test_layer_init_like_torch():
    emb = Embedding(2000, 50, padding_idx=3)
    w = emb.weight.data
    assert w.shape == (2000, 50) and w.dtype == np.float32 and emb.weight.requires_grad
    np.testing.assert_array_equal(w[3], 0)
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01  # N(0, 1)
    assert repr(emb) == "Embedding(2000, 50, padding_idx=3)"
    assert Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_layer_parity_and_padding_idx():
    if torch is None:
        pytest.skip("PyTorch is not installed")
    temb = torch.nn.Embedding(5, 3, padding_idx=1)
    emb = Embedding(5, 3, padding_idx=1)
    emb.load_state_dict({k: v.detach().numpy() for k, v in temb.state_dict().items()})
    out, tout = emb(dw.tensor(IDX)), temb(torch.from_numpy(IDX))
    np.testing.assert_allclose(out.data, tout.detach().numpy())
    g = rand(*out.shape, seed=9).astype(np.float32)
    (out * dw.tensor(g)).sum().backward()
    (tout * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.data, temb.weight.grad.numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(emb.weight.grad.data[1], 0)


def test_from_pretrained_freeze():
    vecs = dw.tensor(rand(4, 3).astype(np.float32))
    emb = Embedding.from_pretrained(vecs)
    assert not emb.weight.requires_grad
    assert np.shares_memory(emb.weight.data, vecs.data)  # shared, not copied
    out = emb(dw.tensor([[2, 0]]))
    np.testing.assert_array_equal(out.data, vecs.data[[[2, 0]]])
    assert not out.requires_grad  # frozen: nothing to train
    assert list(emb.parameters())[0] is emb.weight
    trainable = Embedding.from_pretrained(vecs, freeze=False, padding_idx=0)
    assert trainable.weight.requires_grad
    np.testing.assert_array_equal(trainable.weight.data[0], vecs.data[0])  # not zeroed
    trainable(dw.tensor([0, 1, 1])).sum().backward()
    np.testing.assert_array_equal(trainable.weight.grad.data[:2], [[0, 0, 0], [2, 2, 2]])
    with pytest.raises(ShapeError, match="must be 2-D"):
        Embedding.from_pretrained(dw.tensor(rand(3)))


def test_embedding_learns():
    """Embeddings + a linear readout learn to classify tokens by a hidden label (loss bound)."""
    dw.manual_seed(0)
    emb = Embedding(20, 8)
    readout = dw.nn.Linear(8, 2)
    labels = np.random.default_rng(0).integers(0, 2, 20)
    params = list(emb.parameters()) + list(readout.parameters())
    opt = optim.SGD(params, lr=0.5)
    ids = np.arange(20)
    for _ in range(60):
        loss = dw.nn.functional.cross_entropy(readout(emb(dw.tensor(ids))), dw.tensor(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
