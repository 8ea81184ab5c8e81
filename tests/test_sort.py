"""Ordering ops (ops/sort.py): sort / topk values are one differentiable op - float64 gradcheck +
PyTorch parity of values, indices and gradients; argsort and unique against PyTorch."""

import numpy as np
import pytest
from helpers import check_op, needs_torch, torch

import deepwise as dw
from deepwise.autograd import DimError, ShapeError


def _distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """Float64 data without ties (so the order, and the gradient, is well defined)."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) / n - 0.5


@pytest.mark.parametrize("dim,descending", [(-1, False), (0, True), (1, False), (-2, True)])
def test_sort_values_gradcheck_and_parity(dim, descending):
    x = _distinct(3, 5, 2)
    check_op(lambda t: dw.sort(t, dim=dim, descending=descending).values, [x],
             lambda t: torch.sort(t, dim=dim, descending=descending).values)


def test_sort_indices_match_torch_and_method_form():
    x = _distinct(4, 7)
    values, indices = dw.tensor(x).sort(1, descending=True)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(np.take_along_axis(x, indices.data, 1), values.data)
    needs_torch()
    tv, ti = torch.sort(torch.tensor(x), 1, descending=True)
    np.testing.assert_array_equal(indices.data, ti.numpy())


def test_sort_stable_keeps_ties_in_order():
    x = dw.tensor([2, 1, 2, 1, 2])
    assert dw.sort(x, stable=True).indices.tolist() == [1, 3, 0, 2, 4]
    assert dw.sort(x, descending=True, stable=True).indices.tolist() == [0, 2, 4, 1, 3]


@pytest.mark.parametrize("k,dim,largest", [(3, -1, True), (1, 0, False), (2, 1, True),
                                           (5, -1, False)])
def test_topk_gradcheck_and_parity(k, dim, largest):
    x = _distinct(4, 5)
    check_op(lambda t: dw.topk(t, k, dim=dim, largest=largest).values, [x],
             lambda t: torch.topk(t, k, dim=dim, largest=largest).values)


def test_topk_partition_path_matches_torch():
    x = _distinct(3, 200)  # n > 64: argpartition first
    check_op(lambda t: t.topk(7).values, [x], lambda t: t.topk(7).values)
    needs_torch()
    np.testing.assert_array_equal(dw.tensor(x).topk(7, largest=False).indices.data,
                                  torch.tensor(x).topk(7, largest=False).indices.numpy())


def test_argsort_and_msort_match_torch():
    x = _distinct(5, 3)
    a = dw.argsort(dw.tensor(x), dim=0, descending=True)
    assert a.dtype == np.int64 and not a.requires_grad
    check_op(lambda t: dw.msort(t), [x], lambda t: torch.sort(t, 0).values)
    needs_torch()
    np.testing.assert_array_equal(a.data, torch.argsort(torch.tensor(x), 0, True).numpy())


def test_unique_matches_torch():
    x = np.array([[3, 1, 3], [2, 1, 5]])
    vals, inv, counts = dw.unique(dw.tensor(x), return_inverse=True, return_counts=True)
    assert vals.tolist() == [1, 2, 3, 5] and counts.tolist() == [2, 1, 2, 1]
    np.testing.assert_array_equal(vals.data[inv.data], x)
    needs_torch()
    tv, ti, tc = torch.unique(torch.tensor(x), return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(inv.data, ti.numpy())


def test_errors_name_the_op():
    x = dw.randn(3, 4)
    with pytest.raises(ShapeError, match=r"topk: k=5 is out of range for dim -1 of size 4"):
        x.topk(5)
    with pytest.raises(DimError, match="sort: dim 2 is out of range"):
        x.sort(2)
