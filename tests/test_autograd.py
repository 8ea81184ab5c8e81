"""The backward engine: diamonds, reuse, deep chains, retain_graph, hooks, grad modes, leaves."""

import numpy as np
import pytest

import deepwise as dw
from deepwise.autograd import gradcheck


def test_diamond_and_reuse_accumulate():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    a = x * 3
    b = x * x
    y = (a + b + x).sum()  # dy/dx = 3 + 2x + 1
    y.backward()
    np.testing.assert_allclose(x.grad.data, [6.0, 8.0])


def test_leaf_grad_accumulates_across_calls_and_zero():
    x = dw.tensor([1.0, -1.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, [4.0, 4.0])
    g = x.grad
    with dw.no_grad():
        x.grad.zero_()
    assert x.grad is g and np.all(x.grad.data == 0)


def test_leaf_grad_is_its_own_copy():
    # Add returns the same array to both inputs: each leaf must own its .grad
    a = dw.tensor([1.0], requires_grad=True)
    b = dw.tensor([1.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 5
    assert b.grad.item() == 1.0


def test_deep_chain_no_recursion_limit():
    x = dw.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_second_backward_without_retain_graph_raises():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_non_scalar_backward_needs_gradient():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only for scalar outputs.*shape \\(2,\\)"):
        y.backward()
    y.backward(dw.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.data, [2.0, 20.0])


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dw.tensor([1.0]).sum().backward()


def test_no_grad_enable_grad_set_grad_enabled():
    x = dw.tensor([1.0], requires_grad=True)
    with dw.no_grad():
        assert not dw.is_grad_enabled()
        y = x * 2
        with dw.enable_grad():
            z = x * 2
    assert dw.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    with dw.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert dw.is_grad_enabled()

    @dw.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    dw.set_grad_enabled(False)
    assert not dw.is_grad_enabled()
    dw.set_grad_enabled(True)


def test_tensor_hooks_leaf_and_nonleaf():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.data.copy()))
    y = x * 3
    y.register_hook(lambda g: g * 10)  # replaces the gradient flowing on from y
    y.sum().backward()
    np.testing.assert_allclose(seen[0], [30.0, 30.0])
    np.testing.assert_allclose(x.grad.data, [30.0, 30.0])
    h.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert len(seen) == 1


def test_retain_grad_on_intermediate():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    (y * 3).sum().backward()
    np.testing.assert_allclose(y.grad.data, [3.0, 3.0])
    assert x.grad is not None


def test_autograd_grad_does_not_touch_dot_grad():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    y = (x ** 3).sum()
    (g,) = dw.autograd.grad(y, x)
    np.testing.assert_allclose(g.data, [3.0, 12.0])
    assert x.grad is None


def test_grads_only_where_required():
    a = dw.tensor([1.0, 2.0], requires_grad=True)
    b = dw.tensor([3.0, 4.0])
    (a * b).sum().backward()
    assert b.grad is None
    np.testing.assert_allclose(a.grad.data, [3.0, 4.0])


def test_inplace_on_leaf_requiring_grad_raises_and_no_grad_allows():
    w = dw.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w += 1
    with pytest.raises(RuntimeError, match="no_grad"):
        w.mul_(2)
    with dw.no_grad():
        w -= 0.5
        w.clamp_(0, 1)
    np.testing.assert_allclose(w.data, [0.5, 1.0])
    w.data -= 0.5  # .data is the array: an update outside autograd, as in PyTorch
    np.testing.assert_allclose(w.data, [0.0, 0.5])


def test_inplace_on_graph_tensor_raises():
    x = dw.tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="out-of-place"):
        y.add_(1)


def test_inplace_on_saved_input_detected_at_backward():
    w = dw.tensor([2.0, 3.0], requires_grad=True)
    x = dw.tensor([1.0, 1.0])
    y = (w * x).sum()  # Mul saves x to compute dL/dw
    x.add_(5)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_inplace_on_unsaved_input_is_fine():
    w = dw.tensor([2.0, 3.0], requires_grad=True)
    x = dw.tensor([1.0, 1.0])
    y = (w + x).sum()  # Add saves no input
    x.add_(5)
    y.backward()
    np.testing.assert_allclose(w.grad.data, [1.0, 1.0])


def test_detach_shares_data_and_leaves_graph():
    x = dw.tensor([1.0, 3.0], requires_grad=True)
    z = x * 2
    y = z.detach()
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None
    assert not z.is_leaf and z.grad_fn is not None
    assert np.shares_memory(y.data, z.data)  # a view of the same memory, no copy (PyTorch's)
    d = x.detach()
    assert np.shares_memory(d.data, x.data)
    d.data[0] = 5.0  # so an in-place change through one shows in the other
    assert x.data[0] == 5.0


def test_integer_tensors_never_require_grad():
    with pytest.raises(RuntimeError, match="floating"):
        dw.tensor([1, 2], requires_grad=True)
    i = dw.tensor([1, 2])
    assert i.dtype == dw.int64
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    assert not (x > 1).requires_grad
    assert not x.long().requires_grad


def test_cast_is_differentiable_between_floats():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3
    assert y.dtype == dw.float64
    y.sum().backward()
    assert x.grad.dtype == dw.float32
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])


def test_observers_see_forward_and_backward():
    seen_f, seen_b = [], []
    hf = dw.autograd.observe_forward(lambda node, outs: seen_f.append(node.name))
    hb = dw.autograd.observe_backward(lambda node, go, gi: seen_b.append(node.name))
    try:
        x = dw.tensor([1.0], requires_grad=True)
        (x.exp() * 2).sum().backward()
    finally:
        hf.remove()
        hb.remove()
    assert seen_f == ["Exp", "Mul", "Sum"]
    assert seen_b == ["Sum", "Mul", "Exp"]


def test_gradcheck_reports_a_wrong_gradient():
    class BadSquare(dw.autograd.Function):
        """y = x^2; (deliberately wrong backward: 3x)"""

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return g * 3 * self.x

    x = dw.tensor(np.array([0.5, -1.5]), requires_grad=True)
    with pytest.raises(AssertionError, match="input #0.*analytic.*numeric"):
        gradcheck(lambda t: BadSquare.apply(t), [x])
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, [dw.tensor([1.0], requires_grad=True)])
    assert gradcheck(lambda t: t * t, [x])


def test_multi_output_function_missing_grad_is_zero():
    class Halves(dw.autograd.Function):
        """y1, y2 = x[:k], x[k:];  dL/dx = concat(dL/dy1, dL/dy2)"""

        def forward(self, x):
            self.k = x.shape[0] // 2
            return x[: self.k].copy(), x[self.k:].copy()

        def backward(self, g1, g2):
            return np.concatenate([g1, g2])

    x = dw.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    a, b = Halves.apply(x)
    (a * 5).sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, 5.0, 0.0, 0.0])
