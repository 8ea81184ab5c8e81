"""ops/distance: normalize, cosine_similarity, pairwise_distance, triplet_margin_loss and the
batch-hard triplet loss - float64 gradient checks, PyTorch parity (values and gradients),
nn.TripletMarginLoss, the clamped-norm cases and the error messages."""

import numpy as np
import pytest
from helpers import SKIP_TORCH, check_op, rand, torch

import deepwise as dw
import deepwise.nn.functional as F
from deepwise import nn
from deepwise.autograd import ShapeError

TF = torch.nn.functional if torch is not None else None
REDUCTIONS = ["mean", "sum", "none"]


# ---- normalize ------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_normalize(p, dim):
    x = rand(4, 5, 3, seed=1)
    check_op(lambda a: F.normalize(a, p=p, dim=dim), [x],
             lambda a: TF.normalize(a, p=p, dim=dim))
    one = rand(1, 7, seed=2)  # batch of 1, non-contiguous below
    check_op(lambda a: F.normalize(a, p=p, dim=-1), [one], lambda a: TF.normalize(a, p=p, dim=-1))
    check_op(lambda a: F.normalize(a, p=p, dim=0), [rand(6, 3, seed=3).T],
             lambda a: TF.normalize(a, p=p, dim=0))


def test_normalize_unit_length_and_clamped_norm():
    y = F.normalize(dw.tensor(rand(8, 16, seed=4)), dim=1).data
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, rtol=1e-6)
    # a row whose norm is below eps is divided by eps: its gradient is g / eps
    x = np.array([[1e-4, -2e-4], [3.0, 4.0]])
    check_op(lambda a: F.normalize(a, eps=1e-2), [x], lambda a: TF.normalize(a, eps=1e-2))


# ---- cosine_similarity -----------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, -1, 0])
def test_cosine_similarity(dim):
    a, b = rand(5, 4, seed=5), rand(5, 4, seed=6)
    check_op(lambda x, y: F.cosine_similarity(x, y, dim=dim), [a, b],
             lambda x, y: TF.cosine_similarity(x, y, dim=dim))


def test_cosine_similarity_broadcasts():
    a, b = rand(6, 3, 4, seed=7), rand(1, 3, 4, seed=8)  # one row against a batch
    check_op(lambda x, y: F.cosine_similarity(x, y, dim=2), [a, b],
             lambda x, y: TF.cosine_similarity(x, y, dim=2))
    check_op(lambda x, y: F.cosine_similarity(x, y, dim=-1), [rand(4, seed=9), rand(3, 4)],
             lambda x, y: TF.cosine_similarity(x, y, dim=-1))


def test_cosine_similarity_values():
    x = dw.tensor([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    y = dw.tensor([[0.0, 3.0], [2.0, 2.0], [-1.0, 0.0]])
    np.testing.assert_allclose(F.cosine_similarity(x, y).data, [0.0, 1.0, -1.0], atol=1e-7)


# ---- pairwise_distance -----------------------------------------------------------------------


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(p, keepdim):
    a, b = rand(6, 5, seed=10), rand(6, 5, seed=11)
    check_op(lambda x, y: F.pairwise_distance(x, y, p=p, keepdim=keepdim), [a, b],
             lambda x, y: TF.pairwise_distance(x, y, p=p, keepdim=keepdim))
    check_op(lambda x, y: F.pairwise_distance(x, y, p=p), [rand(1, 5, seed=12), b],
             lambda x, y: TF.pairwise_distance(x, y, p=p))  # broadcast row
    check_op(lambda x, y: F.pairwise_distance(x, y, p=p), [rand(5, seed=13), rand(5, seed=14)],
             lambda x, y: TF.pairwise_distance(x, y, p=p))  # unbatched


def test_pairwise_distance_equal_rows_have_a_gradient():
    x = rand(3, 4, seed=15)
    check_op(lambda a, b: F.pairwise_distance(a, b), [x, x.copy()],
             lambda a, b: TF.pairwise_distance(a, b), check_grad=False)  # |x1 - x2| ~ eps
    a = dw.tensor(x, requires_grad=True)
    F.pairwise_distance(a, dw.tensor(x)).sum().backward()
    np.testing.assert_allclose(a.grad.data, 0.5, rtol=1e-6)  # v = eps 1: d||v||/dv = 1/sqrt(4)


# ---- triplet_margin_loss ---------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [2.0, 1.0])
def test_triplet_margin_loss(reduction, swap, p):
    a, pos, neg = rand(8, 5, seed=16), rand(8, 5, seed=17), rand(8, 5, seed=18)
    neg[:3] += 3.0  # these triplets are satisfied (loss 0, no gradient)

    def ours(x, y, z):
        return F.triplet_margin_loss(x, y, z, margin=1.0, p=p, swap=swap, reduction=reduction)

    def theirs(x, y, z):
        return TF.triplet_margin_loss(x, y, z, margin=1.0, p=p, swap=swap, reduction=reduction)

    check_op(ours, [a, pos, neg], theirs)
    loss = ours(*[dw.tensor(v) for v in (a, pos, neg)]).data
    assert reduction != "none" or 0 < (loss > 0).sum() < 8, "the test must hit both sides"
    check_op(ours, [rand(5, seed=19), rand(5, seed=20), rand(5, seed=21)], theirs)  # unbatched


def test_triplet_margin_loss_layer_and_margin():
    a, pos, neg = (rand(6, 4, seed=s) for s in (22, 23, 24))
    layer = nn.TripletMarginLoss(margin=0.5, swap=True)
    assert "margin=0.5" in repr(layer)
    check_op(lambda x, y, z: layer(x, y, z), [a, pos, neg],
             lambda x, y, z: torch.nn.TripletMarginLoss(margin=0.5, swap=True)(x, y, z))
    # satisfied triplets (negative far away) cost nothing and pass no gradient
    far = dw.tensor(a + 100.0, requires_grad=True)
    loss = F.triplet_margin_loss(dw.tensor(a), dw.tensor(a + 0.01), far)
    loss.backward()
    assert loss.item() == 0.0 and np.all(far.grad.data == 0)


# ---- batch-hard triplet loss -----------------------------------------------------------------


def _batch(seed=25):
    x = rand(10, 6, seed=seed)
    y = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3, 4])  # identity 4 has no positive: left out
    return x, y


def _torch_batch_hard(x, y, margin, reduction):
    """The reference, written with PyTorch's ops: distances via norms of the chosen pairs."""
    yt = torch.as_tensor(y)
    with torch.no_grad():
        d = torch.cdist(x, x)
        same = yt[:, None] == yt[None, :]
        pos = same & ~torch.eye(len(y), dtype=torch.bool)
        valid = pos.any(1) & (~same).any(1)
        ip = torch.where(pos, d, -torch.inf).argmax(1)
        ineg = torch.where(same, torch.inf, d).argmin(1)
    z = (x - x[ip]).norm(dim=1) - (x - x[ineg]).norm(dim=1)
    loss = TF.softplus(z) if margin is None else torch.relu(margin + z)
    loss = loss * valid
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / valid.sum()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.3, None])
def test_batch_hard_triplet_loss(reduction, margin):
    x, y = _batch()
    check_op(lambda a: F.batch_hard_triplet_loss(a, y, margin=margin, reduction=reduction), [x],
             lambda a: _torch_batch_hard(a, y, margin, reduction))


def test_batch_hard_picks_the_hardest_pairs():
    # identity 0 at 0 and 3 on a line, identity 1 at 1 and 10: the anchor at 0 has its
    # hardest positive at distance 3 and its hardest negative at distance 1
    x = dw.tensor([[0.0], [3.0], [1.0], [10.0]])
    loss = F.batch_hard_triplet_loss(x, np.array([0, 0, 1, 1]), margin=0.5, reduction="none")
    np.testing.assert_allclose(loss.data, [0.5 + 3 - 1, 0.5 + 3 - 2, 0.5 + 9 - 1, 0.5 + 9 - 7])
    none = F.batch_hard_triplet_loss(dw.tensor(rand(3, 2)), np.array([0, 1, 2]))
    assert np.isnan(none.item())  # no anchor has a positive: 0/0, as a mean over nothing


def test_batch_hard_trains_an_embedding():
    """A linear embedding of noisy points learns to separate 4 identities."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 10))
    y = np.repeat(np.arange(4), 8)
    x = dw.tensor(centres[y] + 0.8 * rng.standard_normal((32, 10)), dtype=dw.float32)
    dw.manual_seed(0)
    emb = nn.Linear(10, 4)
    opt = dw.optim.Adam(emb.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        loss = F.batch_hard_triplet_loss(F.normalize(emb(x)), y, margin=0.3)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 0.2 and loss.item() < 0.05 * first


# ---- errors ------------------------------------------------------------------------------


def test_errors_name_the_op_and_the_problem():
    x = dw.tensor(rand(3, 4))
    with pytest.raises(ShapeError, match=r"cosine_similarity: x1 of shape \(3, 4\) and x2 of "
                                         r"shape \(2, 4\)"):
        F.cosine_similarity(x, dw.tensor(rand(2, 4)))
    with pytest.raises(ShapeError, match="triplet_margin_loss: expected anchor, positive and "
                                         "negative of the same shape"):
        F.triplet_margin_loss(x, x, dw.tensor(rand(3, 5)))
    with pytest.raises(ValueError, match="normalize: p must be a finite number >= 1"):
        F.normalize(x, p=0.5)
    with pytest.raises(IndexError, match="normalize: dim 2 is out of range"):
        F.normalize(x, dim=2)
    with pytest.raises(TypeError, match="pairwise_distance: x1 must be a floating-point"):
        F.pairwise_distance(dw.tensor([[1, 2]]), x)
    with pytest.raises(ShapeError, match=r"batch_hard_triplet_loss: expected embeddings \(N, D\)"
                                         r" and integer labels \(N,\)"):
        F.batch_hard_triplet_loss(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="triplet_margin_loss: reduction must be"):
        F.triplet_margin_loss(x, x, x, reduction="avg")


def test_parity_needs_torch_only_here():
    if torch is None:
        pytest.skip(SKIP_TORCH)
    # F.normalize keeps PyTorch's default eps and dim
    x = rand(3, 4, seed=26)
    np.testing.assert_allclose(F.normalize(dw.tensor(x)).data,
                               TF.normalize(torch.tensor(x)).numpy(), rtol=1e-12)


# ---- additive angular margin (ArcFace) -----------------------------------------------------


def _torch_arcface(c, target, margin, scale):
    """The reference in PyTorch's ops: cos(acos(c) + m) at the targets (c - m sin m past pi)."""
    import math

    onehot = TF.one_hot(torch.as_tensor(target), c.shape[1]).bool()
    theta_m = torch.cos(torch.acos(c) + margin)
    wrapped = torch.where(c <= math.cos(math.pi - margin), c - margin * math.sin(margin), theta_m)
    return scale * torch.where(onehot, wrapped, c)


@pytest.mark.parametrize("margin, scale", [(0.5, 64.0), (0.2, 8.0), (1.2, 4.0)])
def test_additive_angular_margin(margin, scale):
    c = rand(7, 5, seed=27, low=-0.95, high=0.95)
    t = np.array([0, 4, 2, 2, 1, 3, 0])
    c[1, 4] = -0.9  # past pi - m for the wider margin: the fallback branch
    check_op(lambda x: F.additive_angular_margin(x, t, margin=margin, scale=scale), [c],
             lambda x: _torch_arcface(x, t, margin, scale), rtol=1e-4, atol=1e-4)


def test_arcface_loss_layer_matches_pytorch():
    emb, t = rand(6, 4, seed=28), np.array([0, 1, 2, 2, 1, 0])
    layer = nn.ArcFaceLoss(num_classes=3, embedding_dim=4, margin=0.3, scale=16.0)
    assert "margin=0.3" in repr(layer) and layer.weight.shape == (3, 4)
    w = layer.weight.data.astype(np.float64)

    def theirs(x):
        wt = torch.tensor(w, dtype=x.dtype)
        cos = TF.normalize(x, dim=1) @ TF.normalize(wt, dim=1).T
        return TF.cross_entropy(_torch_arcface(cos, t, 0.3, 16.0), torch.as_tensor(t))

    check_op(lambda x: layer(x.float() if x.dtype == np.float32 else x, dw.tensor(t)), [emb],
             theirs, rtol=1e-4, atol=1e-5, check_grad=False)
    layer.double()
    dw.autograd.gradcheck(lambda x: layer(x, dw.tensor(t)), [dw.tensor(emb, requires_grad=True)])


def test_additive_angular_margin_errors():
    c = dw.tensor(rand(3, 4, low=-0.5, high=0.5))
    with pytest.raises(IndexError, match="additive_angular_margin: target holds class 4"):
        F.additive_angular_margin(c, np.array([0, 1, 4]))
    with pytest.raises(ShapeError, match=r"expected cosine \(N, C\) and integer target \(N,\)"):
        F.additive_angular_margin(c, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"margin must be an angle in \[0, pi/2\)"):
        F.additive_angular_margin(c, np.array([0, 1, 2]), margin=2.0)
