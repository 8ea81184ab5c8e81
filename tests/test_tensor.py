"""Tensor: creation functions, dtypes, conversions, properties, in-place methods, seeding."""

import numpy as np
import pytest

import deepwise as dw


def test_tensor_infers_pytorch_dtypes():
    assert dw.tensor([1.0, 2.0]).dtype == dw.float32
    assert dw.tensor(3).dtype == dw.int64
    assert dw.tensor([True, False]).dtype == dw.bool_
    assert dw.tensor(np.zeros(2, np.float64)).dtype == dw.float64  # arrays keep their dtype
    assert dw.tensor([1, 2], dtype=dw.float64).dtype == dw.float64
    assert dw.float == dw.float32 and dw.long == dw.int64 and dw.double == dw.float64


def test_tensor_copies_from_numpy_shares_as_tensor_maybe_shares():
    a = np.zeros(3, np.float32)
    t, f, s = dw.tensor(a), dw.from_numpy(a), dw.as_tensor(a)
    a[0] = 5
    assert t.data[0] == 0 and f.data[0] == 5 and s.data[0] == 5
    assert dw.as_tensor(a, dtype=dw.float64).data[0] == 5
    with pytest.raises(TypeError, match="numpy.ndarray"):
        dw.from_numpy([1, 2])


def test_creation_functions():
    assert dw.zeros(2, 3).shape == (2, 3) and dw.zeros((2, 3)).dtype == dw.float32
    assert dw.ones(4).data.sum() == 4
    assert dw.full((2, 2), 7.0).data.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert dw.full((2,), 7).dtype == dw.int64
    assert dw.empty(3, dtype=dw.float64).dtype == dw.float64
    assert dw.arange(5).tolist() == [0, 1, 2, 3, 4] and dw.arange(5).dtype == dw.int64
    assert dw.arange(0, 1, 0.25).dtype == dw.float32
    np.testing.assert_allclose(dw.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1])
    assert dw.eye(3).data.trace() == 3
    x = dw.ones(2, 3, dtype=dw.float64)
    assert dw.zeros_like(x).dtype == dw.float64 and dw.ones_like(x).shape == (2, 3)
    assert dw.full_like(x, 2.0).data.sum() == 12
    assert dw.empty_like(x).shape == (2, 3)
    assert dw.zeros(2, requires_grad=True).requires_grad


def test_random_functions_repeat_after_manual_seed():
    dw.manual_seed(123)
    a = [dw.rand(3), dw.randn(2, 2), dw.randint(0, 10, (4,)), dw.randperm(6), dw.normal(1, 2, (3,))]
    dw.manual_seed(123)
    b = [dw.rand(3), dw.randn(2, 2), dw.randint(0, 10, (4,)), dw.randperm(6), dw.normal(1, 2, (3,))]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.data, y.data)
    assert a[0].dtype == dw.float32 and a[2].dtype == dw.int64
    assert sorted(a[3].tolist()) == list(range(6))
    assert dw.randn_like(a[1]).shape == (2, 2) and dw.rand_like(a[1]).dtype == dw.float32
    with pytest.raises(TypeError, match="int"):
        dw.manual_seed(1.5)


def test_properties_and_conversions():
    x = dw.tensor([[1.5, 2.5, 3.5]])
    assert x.shape == (1, 3) and x.ndim == 2 and x.dim() == 2 and x.size() == (1, 3)
    assert x.size(1) == 3 and x.numel() == 3 and x.device == "cpu"
    assert x.long().dtype == dw.int64 and x.int().dtype == dw.int32
    assert x.double().dtype == dw.float64 and x.half().dtype == dw.float16
    assert x.bool().dtype == dw.bool_ and x.double().float().dtype == dw.float32
    assert x.to(dw.float64).dtype == dw.float64 and x.to("cpu") is x
    assert x.type_as(dw.tensor([1])).dtype == dw.int64
    assert x.tolist() == [[1.5, 2.5, 3.5]]
    assert x.numpy() is x.data
    assert dw.tensor([[2.5]]).item() == 2.5 and float(dw.tensor(2.0)) == 2.0
    assert int(dw.tensor([3])) == 3
    with pytest.raises(ValueError, match="one-element.*shape \\(1, 3\\)"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(ValueError, match="device 'cuda'"):
        x.to("cuda")


def test_len_iter_and_transpose():
    x = dw.tensor(np.arange(6.0).reshape(2, 3))
    assert len(x) == 2
    rows = list(x)
    assert rows[1].tolist() == [3.0, 4.0, 5.0]
    assert x.T.shape == (3, 2) and x.mT.shape == (3, 2)


def test_repr_shows_grad_state():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert "grad_fn=<MulBackward>" in repr(x * 2)
    assert "dtype=float64" in repr(x.double().detach())
    assert f"{dw.tensor(1.23456):.2f}" == "1.23"


def test_requires_grad_rules():
    x = dw.tensor([1.0])
    assert x.requires_grad_() is x and x.requires_grad and x.is_leaf
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="floating"):
        dw.tensor([1]).requires_grad_()


def test_inplace_methods_outside_graph():
    x = dw.tensor([1.0, 2.0, 3.0])
    x.add_(1).mul_(2).sub_(1, alpha=2).div_(2)
    np.testing.assert_allclose(x.data, [1.0, 2.0, 3.0])
    x += dw.tensor([1.0, 1.0, 1.0])
    x *= 2
    x -= 1
    x /= 1
    np.testing.assert_allclose(x.data, [3.0, 5.0, 7.0])
    x.clamp_(max=5)
    np.testing.assert_allclose(x.data, [3.0, 5.0, 5.0])
    x.fill_(2.0)
    assert x.data.tolist() == [2.0, 2.0, 2.0]
    x.copy_(np.array([4.0, 5.0, 6.0]))
    assert x.dtype == dw.float32 and x.tolist() == [4.0, 5.0, 6.0]
    x.zero_()
    assert x.tolist() == [0.0, 0.0, 0.0]
    x[1] = 9.0
    assert x.tolist() == [0.0, 9.0, 0.0]
    with pytest.raises(ValueError, match="copy_.*\\(2,\\).*\\(3,\\)"):
        x.copy_(np.ones(2))


def test_parameter_update_by_hand_like_pytorch():
    w = dw.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    w.data -= 0.1 * w.grad.data
    np.testing.assert_allclose(w.data, [0.8, 1.6])
    with dw.no_grad():
        w -= 0.1 * w.grad
    np.testing.assert_allclose(w.data, [0.6, 1.2])


def test_default_dtype_can_change():
    try:
        dw.set_default_dtype(dw.float64)
        assert dw.tensor([1.0]).dtype == dw.float64 and dw.zeros(2).dtype == dw.float64
    finally:
        dw.set_default_dtype(dw.float32)
    with pytest.raises(TypeError, match="floating"):
        dw.set_default_dtype(dw.int64)
