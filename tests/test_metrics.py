"""Metrics against hand-computed values and plain-NumPy references (no sklearn)."""

import numpy as np
import pytest

import deepwise as dw
from deepwise.autograd import ShapeError
from deepwise.train import metrics as M

# 3 classes, 8 samples; predictions picked by hand:
#   true:  0 0 0 1 1 2 2 2
#   pred:  0 1 0 1 2 2 2 0
Y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
P = np.array([0, 1, 0, 1, 2, 2, 2, 0])


def logits_for(pred, c=3, seed=0):
    """Random scores whose arg-max is ``pred`` (classes at dim 1)."""
    z = np.random.default_rng(seed).normal(size=(len(pred), c)).astype(np.float32)
    z[np.arange(len(pred)), pred] = z.max(axis=1) + 1.0
    return z


def test_accuracy_hand_computed():
    assert M.accuracy(P, Y) == pytest.approx(5 / 8)
    assert M.accuracy(logits_for(P), Y) == pytest.approx(5 / 8)
    assert M.accuracy(dw.tensor(logits_for(P)), dw.tensor(Y)) == pytest.approx(5 / 8)


def test_accuracy_class_axis_is_dim1_for_sequences():
    # (N, C, L) scores with (N, L) targets, as cross_entropy takes them
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 5, 7))
    y = rng.integers(0, 5, size=(4, 7))
    assert M.accuracy(z, y) == pytest.approx(np.mean(z.argmax(1) == y))


def test_accuracy_binary_threshold_and_errors():
    probs = np.array([0.9, 0.2, 0.6, 0.4])
    y = np.array([1.0, 0.0, 0.0, 0.0])
    assert M.accuracy(probs, y, threshold=0.5) == pytest.approx(3 / 4)
    assert M.accuracy(probs[:, None], y, threshold=0.5) == pytest.approx(3 / 4)
    logits = np.array([2.0, -1.0, 0.5, -0.3])
    assert M.accuracy(logits, y, threshold=0.0) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="threshold"):
        M.accuracy(probs, y)  # scores of the target's shape: ambiguous without a threshold
    with pytest.raises(ValueError, match="threshold"):
        M.accuracy(probs[:, None], y)
    with pytest.raises(ShapeError, match=r"\(8, 3\).*\(7,\)"):
        M.accuracy(logits_for(P), Y[:7])


def test_accuracy_one_hot_targets():
    onehot = np.eye(3)[Y] * 0.9 + 0.1 / 3  # label-smoothed one-hot: class probabilities
    assert M.accuracy(logits_for(P), onehot) == pytest.approx(5 / 8)
    assert M.accuracy(logits_for(P), np.eye(3, dtype=np.float32)[Y]) == pytest.approx(5 / 8)
    with pytest.raises(ValueError, match="threshold"):  # multi-label 0/1 targets: say how
        M.accuracy(logits_for(P), np.ones((8, 3), np.float32))


def test_top_k_accuracy_against_sorting_reference():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(50, 10))
    y = rng.integers(0, 10, size=50)
    for k in (1, 3, 10):
        topk = np.argsort(-z, axis=1)[:, :k]
        ref = np.mean([y[i] in topk[i] for i in range(50)])
        assert M.top_k_accuracy(z, y, k=k) == pytest.approx(ref)
    assert M.top_k_accuracy(z, y, k=1) == pytest.approx(M.accuracy(z, y))
    with pytest.raises(ValueError, match="out of range"):
        M.top_k_accuracy(z, np.full(50, 10), k=2)
    with pytest.raises(ValueError, match="positive"):
        M.top_k_accuracy(z, y, k=0)


def test_confusion_matrix_hand_computed():
    cm = M.confusion_matrix(P, Y, num_classes=3)
    expected = np.array([[2, 1, 0],   # true 0: pred 0,1,0
                         [0, 1, 1],   # true 1: pred 1,2
                         [1, 0, 2]])  # true 2: pred 2,2,0
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_array_equal(M.confusion_matrix(logits_for(P), Y), expected)
    assert M.confusion_matrix(P, Y, num_classes=5).shape == (5, 5)
    with pytest.raises(ValueError, match="out of range"):
        M.confusion_matrix(P, Y, num_classes=2)


def test_precision_recall_f1_hand_computed():
    # per class, from the matrix above: tp = [2, 1, 2]; predicted = [3, 2, 3]; actual = [3, 2, 3]
    prec = np.array([2 / 3, 1 / 2, 2 / 3])
    rec = np.array([2 / 3, 1 / 2, 2 / 3])
    f = 2 * prec * rec / (prec + rec)
    assert M.precision(P, Y) == pytest.approx(prec.mean())
    assert M.recall(P, Y) == pytest.approx(rec.mean())
    assert M.f1(P, Y) == pytest.approx(f.mean())
    np.testing.assert_allclose(M.precision(P, Y, average=None), prec)
    assert M.f1(P, Y, average="micro") == pytest.approx(5 / 8)


def test_precision_recall_f1_asymmetric_case_and_zero_division():
    y = np.array([0, 0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 1, 1, 1, 0, 0])  # class 2 never predicted -> precision 0 (no division)
    cm = M.confusion_matrix(p, y, 3)
    np.testing.assert_array_equal(cm, [[2, 2, 0], [1, 1, 0], [1, 0, 0]])
    prec = np.array([2 / 4, 1 / 3, 0.0])
    rec = np.array([2 / 4, 1 / 2, 0.0])
    f = np.array([2 * 2 / (4 + 4), 2 * 1 / (3 + 2), 0.0])
    assert M.precision(p, y) == pytest.approx(prec.mean())
    assert M.recall(p, y) == pytest.approx(rec.mean())
    assert M.f1(p, y) == pytest.approx(f.mean())
    support = np.array([4, 2, 1])
    assert M.recall(p, y, average="weighted") == pytest.approx((rec * support).sum() / 7)
    # a class absent from targets and predictions does not dilute the macro average
    assert M.f1(p, y, num_classes=6) == pytest.approx(f.mean())


def test_f1_against_numpy_reference_random():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, size=200)
    p = np.where(rng.random(200) < 0.6, y, rng.integers(0, 4, size=200))
    scores = []
    for c in range(4):
        tp = np.sum((p == c) & (y == c))
        fp = np.sum((p == c) & (y != c))
        fn = np.sum((p != c) & (y == c))
        pr, rc = tp / (tp + fp), tp / (tp + fn)
        scores.append(2 * pr * rc / (pr + rc))
    assert M.f1(p, y) == pytest.approx(np.mean(scores))


def test_metric_objects_accumulate_exactly_over_batches():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(37, 4)).astype(np.float32)
    y = rng.integers(0, 4, size=37)
    objs = [M.Accuracy(), M.TopKAccuracy(2), M.F1(), M.Precision(num_classes=4), M.Recall(),
            M.Mean(M.accuracy, name="acc_mean")]
    for m in objs:
        m.update(dw.tensor(z[:5]), dw.tensor(y[:5]))  # junk first: reset must forget it
        m.reset()
        for s in (slice(0, 10), slice(10, 13), slice(13, 37)):  # uneven batches
            m.update(dw.tensor(z[s]), dw.tensor(y[s]))
    whole = [M.accuracy(z, y), M.top_k_accuracy(z, y, 2), M.f1(z, y), M.precision(z, y),
             M.recall(z, y), M.accuracy(z, y)]
    for m, ref in zip(objs, whole):
        assert m.compute() == pytest.approx(ref), m.name
    assert [m.name for m in objs] == ["accuracy", "top2_accuracy", "f1", "precision", "recall",
                                      "acc_mean"]


def test_confusion_matrix_object_grows():
    m = M.ConfusionMatrix()
    m.update(np.array([0, 1]), np.array([0, 1]))
    m.update(np.array([3]), np.array([2]))
    np.testing.assert_array_equal(m.compute(), M.confusion_matrix([0, 1, 3], [0, 1, 2], 4))


def test_empty_metric_is_nan_and_get_metric():
    assert np.isnan(M.Accuracy().compute())
    assert isinstance(M.get_metric("accuracy"), M.Accuracy)
    assert M.get_metric("top3_accuracy").k == 3
    assert M.get_metric("f1").name == "f1"
    custom = M.get_metric(lambda o, t: 0.5)
    custom.update(np.zeros((2, 3)), np.zeros(2))
    assert custom.compute() == 0.5
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        M.get_metric("auc")
