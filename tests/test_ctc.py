"""CTC: the loss (float64 gradcheck, PyTorch parity in every mode, brute force over all paths),
its layer, and the decoders (greedy, prefix beam search) and edit distance."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from helpers import SKIP_TORCH, check_op, rand, torch

import deepwise as dw
import deepwise.nn.functional as F
from deepwise import nn
from deepwise.ops.ctc import ctc_beam_search, ctc_greedy_decode, ctc_loss, edit_distance

# repeated labels (1 1, 2 2 2), a target of length 0 and one that is one frame short of possible
TARGETS = np.array([[1, 1, 2, 0], [3, 0, 0, 0], [1, 2, 3, 4], [2, 2, 3, 0], [0, 0, 0, 0]])
TGT_LEN = np.array([3, 1, 4, 3, 0])
IN_LEN = np.array([7, 5, 6, 4, 3])


def _ours(blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
    return lambda x, t, il, tl: ctc_loss(F.log_softmax(x, 2), t, il, tl, blank=blank,
                                         reduction=reduction, zero_infinity=zero_infinity)


def _torch(blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
    return lambda x, t, il, tl: torch.nn.functional.ctc_loss(
        x.log_softmax(2), t, il, tl, blank=blank, reduction=reduction,
        zero_infinity=zero_infinity)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_gradcheck_and_parity(reduction):
    x = rand(7, 5, 5, seed=1)  # "2 2 3" in exactly 4 frames (2-23); "" in 3 (---)
    check_op(_ours(reduction=reduction), [x, TARGETS, IN_LEN, TGT_LEN],
             _torch(reduction=reduction), rtol=1e-4, atol=1e-5)


def test_ctc_loss_blank_last_and_batch_of_one():
    x = rand(6, 1, 4, seed=2)
    check_op(_ours(blank=3), [x, np.array([[0, 0, 2]]), np.array([6]), np.array([3])],
             _torch(blank=3), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_impossible_alignment_zero_infinity(reduction):
    # sequence 3 needs 4 frames for "2 2 3" plus one blank between the twos = 4: give it 3
    il = IN_LEN.copy()
    il[3] = 3
    x = rand(7, 5, 5, seed=3)
    check_op(_ours(reduction=reduction, zero_infinity=True), [x, TARGETS, il, TGT_LEN],
             _torch(reduction=reduction, zero_infinity=True), rtol=1e-4, atol=1e-5)


def test_ctc_loss_impossible_alignment_is_inf_with_nan_gradient_as_pytorch():
    il = IN_LEN.copy()
    il[3] = 3
    x = dw.tensor(rand(7, 5, 5, seed=3), requires_grad=True)
    loss = ctc_loss(F.log_softmax(x, 2), TARGETS, il, TGT_LEN, reduction="none")
    assert np.isinf(loss.data[3]) and np.all(np.isfinite(loss.data[[0, 1, 2, 4]]))
    loss.sum().backward()
    g = x.grad.data
    assert np.isnan(g[:3, 3]).all() and (g[3:, 3] == 0).all()  # NaN on its 3 frames only
    assert np.isfinite(np.delete(g, 3, axis=1)).all()
    if torch is None:
        pytest.skip(SKIP_TORCH)
    tx = torch.tensor(x.data, requires_grad=True)
    tl = torch.nn.functional.ctc_loss(tx.log_softmax(2), torch.tensor(TARGETS), torch.tensor(il),
                                      torch.tensor(TGT_LEN), reduction="none")
    tl.sum().backward()
    np.testing.assert_array_equal(np.isnan(g), np.isnan(tx.grad.numpy()))


def test_ctc_loss_concatenated_targets_equal_padded():
    lp = F.log_softmax(dw.tensor(rand(7, 5, 5, seed=4)), 2)
    flat = np.concatenate([t[:n] for t, n in zip(TARGETS, TGT_LEN)])
    a = ctc_loss(lp, TARGETS, IN_LEN, TGT_LEN, reduction="none")
    b = ctc_loss(lp, flat, IN_LEN, TGT_LEN, reduction="none")
    np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
    if torch is not None:
        t = torch.nn.functional.ctc_loss(torch.tensor(lp.data), torch.tensor(flat),
                                         torch.tensor(IN_LEN), torch.tensor(TGT_LEN),
                                         reduction="none")
        np.testing.assert_allclose(a.data, t.numpy(), rtol=1e-5)


def _collapse(path, blank=0):
    out = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
    return tuple(out)


@pytest.mark.parametrize("target", [(1,), (1, 1), (1, 2), (2, 2, 1)])
def test_ctc_loss_is_minus_log_of_every_path_summed_by_brute_force(target):
    t_max, c = 5, 3
    lp = np.log(np.random.default_rng(5).dirichlet(np.ones(c), size=t_max))  # (T, C)
    p = sum(math.exp(sum(lp[t, k] for t, k in enumerate(path)))
            for path in itertools.product(range(c), repeat=t_max) if _collapse(path) == target)
    loss = ctc_loss(dw.tensor(lp[:, None]), [list(target)], [t_max], [len(target)],
                    reduction="sum")
    assert loss.item() == pytest.approx(-math.log(p), rel=1e-10)
    unbatched = ctc_loss(dw.tensor(lp), list(target), [t_max], [len(target)], reduction="none")
    assert unbatched.shape == () and unbatched.item() == pytest.approx(-math.log(p), rel=1e-10)


def test_ctc_loss_layer_matches_pytorch():
    x = rand(7, 4, 5, seed=6)
    lp = F.log_softmax(dw.tensor(x), 2)
    ours = nn.CTCLoss(blank=0, reduction="mean")(lp, TARGETS[:4], IN_LEN[:4], TGT_LEN[:4])
    assert "blank=0" in repr(nn.CTCLoss())
    if torch is None:
        pytest.skip(SKIP_TORCH)
    ref = torch.nn.CTCLoss()(torch.tensor(lp.data), torch.tensor(TARGETS[:4]),
                             torch.tensor(IN_LEN[:4]), torch.tensor(TGT_LEN[:4]))
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)


@pytest.mark.parametrize("kw, msg", [
    (dict(targets=[[1, 0, 2]], target_lengths=[3]), "differ from blank"),
    (dict(targets=[[1, 7]], target_lengths=[2]), r"\[0, C=5\)"),
    (dict(input_lengths=[9]), r"\[0, T=6\]"),
    (dict(input_lengths=[6, 6]), "one entry per sequence"),
    (dict(targets=[1, 2], target_lengths=[3]), "sum to 3"),
])
def test_ctc_loss_bad_input_is_named(kw, msg):
    args = dict(targets=[[1, 2]], input_lengths=[6], target_lengths=[2])
    args.update(kw)
    lp = dw.zeros(6, 1, 5)
    with pytest.raises((ValueError, IndexError), match=msg):
        ctc_loss(lp, args["targets"], args["input_lengths"], args["target_lengths"])


def test_greedy_decode_merges_repeats_and_drops_blanks():
    path = [0, 1, 1, 0, 1, 2, 2, 0, 0, 3]  # -11-122--3 -> 1 1 2 3
    lp = np.log(np.full((10, 4), 0.01))
    lp[np.arange(10), path] = 0.0
    assert ctc_greedy_decode(lp) == [[1, 1, 2, 3]]
    assert ctc_greedy_decode(lp[:, None], input_lengths=[5]) == [[1, 1]]  # -11-1


def test_beam_search_finds_the_string_greedy_misses():
    # frame-wise, blank wins both frames (0.6 * 0.6 = 0.36 for ""), but the paths of "1"
    # (1 1, 1 -, - 1: 0.16 + 0.24 + 0.24 = 0.64) are more probable all together
    lp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert ctc_greedy_decode(lp) == [[]]
    labels, score = ctc_beam_search(lp, beam_width=4)
    assert labels == [1] and score == pytest.approx(math.log(0.64))


def test_beam_search_equals_the_best_string_by_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(5):
        lp = np.log(rng.dirichlet(np.ones(3) * 0.5, size=5))
        probs: dict = {}
        for path in itertools.product(range(3), repeat=5):
            s = _collapse(path)
            probs[s] = probs.get(s, 0.0) + math.exp(sum(lp[t, k] for t, k in enumerate(path)))
        best = max(probs, key=probs.get)
        labels, score = ctc_beam_search(lp, beam_width=64, prune=0)
        assert tuple(labels) == best and score == pytest.approx(math.log(probs[best]))


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], [1, 2]) == 2 and edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert edit_distance([1, 2, 3], [1, 3]) == 1
