"""Dtypes and devices as PyTorch's: no silent promotion in matmul / linear / conv / rnn (one
DTypeError naming the op or layer path, both dtypes and the fix), and Tensor.to's signatures."""

import re

import numpy as np
import pytest
from helpers import SKIP_TORCH, torch

import deepwise as dw
from deepwise import nn
from deepwise.nn import functional as F
from deepwise.tensor import DTypeError


class Net(nn.Module):
    """A model whose layers are reached by path (model.fc, model.conv ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.conv = nn.Conv2d(1, 2, 3)
        self.conv1 = nn.Conv1d(1, 2, 3)
        self.up = nn.ConvTranspose2d(1, 2, 3)
        self.lstm = nn.LSTM(4, 3)
        self.gru = nn.GRU(4, 3, batch_first=True)
        self.rnn = nn.RNN(4, 3)


class Wrapper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = Net()
        self.which = "fc"

    def forward(self, x):
        return getattr(self.net, self.which)(x)


INPUTS = {"fc": (3, 4), "conv": (2, 1, 5, 5), "conv1": (2, 1, 5), "up": (2, 1, 4, 4),
          "lstm": (5, 2, 4), "gru": (2, 5, 4), "rnn": (5, 2, 4)}
LABELS = {"fc": "Linear 4->2", "conv": "Conv2d 1->2", "conv1": "Conv1d 1->2",
          "up": "ConvTranspose2d 1->2", "lstm": "LSTM 4->3", "gru": "GRU 4->3", "rnn": "RNN 4->3"}


@pytest.mark.parametrize("layer", sorted(INPUTS))
def test_float64_input_to_a_float32_layer_names_path_dtypes_and_fix(layer):
    model = Wrapper()
    model.which = layer
    x = dw.tensor(np.ones(INPUTS[layer]), dtype=dw.float64)
    with pytest.raises(DTypeError) as info:
        model(x)
    msg = str(info.value)
    assert msg.startswith(f"model.net.{layer} ({LABELS[layer]}): ")
    assert "input is float64 but weight is float32" in msg
    assert "x.float()" in msg and "model.double()" in msg
    # one error, PyTorch's classes: a RuntimeError (as torch raises) and a TypeError
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, TypeError)


@pytest.mark.parametrize("layer", sorted(INPUTS))
def test_integer_input_to_a_layer_says_it_needs_floats(layer):
    model = Wrapper()
    model.which = layer
    with pytest.raises(DTypeError, match=r"input is int64 but weight is float32: this layer "
                                         r"needs floating-point input; convert it with "
                                         r"x\.float\(\)"):
        model(dw.ones(*INPUTS[layer], dtype=dw.int64))


@pytest.mark.parametrize("layer", sorted(INPUTS))
def test_the_fix_works_both_ways(layer):
    model = Wrapper()
    model.which = layer
    x = dw.tensor(np.ones(INPUTS[layer]), dtype=dw.float64)
    out = model(x.float())
    out = out[0] if isinstance(out, tuple) else out
    assert out.dtype == dw.float32
    out = model.double()(x)
    out = out[0] if isinstance(out, tuple) else out
    assert out.dtype == dw.float64


NORMS = {"bn1": (nn.BatchNorm1d(4), (3, 4), "BatchNorm1d 4", "batch_norm"),
         "bn2": (nn.BatchNorm2d(4), (3, 4, 2, 2), "BatchNorm2d 4", "batch_norm"),
         "ln": (nn.LayerNorm(4), (3, 4), "LayerNorm (4,)", "layer_norm"),
         "gn": (nn.GroupNorm(2, 4), (3, 4, 2), "GroupNorm 2x2", "group_norm")}


@pytest.mark.parametrize("name", sorted(NORMS))
def test_normalisation_layers_refuse_other_dtypes_as_pytorch(name):
    layer, shape, label, op = NORMS[name]
    model = nn.Sequential(layer)
    want = (rf"^model\.0 \({re.escape(label)}\): {op}: input is float64 but weight is "
            r"float32; convert the input with x\.float")
    with pytest.raises(DTypeError, match=want):
        model(dw.ones(*shape, dtype=dw.float64))
    with pytest.raises(DTypeError, match="needs floating-point input"):
        model(dw.ones(*shape, dtype=dw.int64))
    assert model(dw.ones(*shape)).dtype == dw.float32
    if torch is None:
        pytest.skip(SKIP_TORCH)
    ref = {"bn1": torch.nn.BatchNorm1d(4), "bn2": torch.nn.BatchNorm2d(4),
           "ln": torch.nn.LayerNorm(4), "gn": torch.nn.GroupNorm(2, 4)}[name]
    with pytest.raises((RuntimeError, NotImplementedError)):
        ref(torch.ones(*shape, dtype=torch.float64))


def test_batchnorm_without_affine_checks_the_running_statistics():
    with pytest.raises(DTypeError, match="input is float64 but running_mean is float32"):
        nn.BatchNorm1d(4, affine=False)(dw.ones(3, 4, dtype=dw.float64))
    # no weight, no running statistics: nothing to disagree with, the input's dtype is kept
    out = nn.BatchNorm1d(4, affine=False, track_running_stats=False)(
        dw.ones(3, 4, dtype=dw.float64))
    assert out.dtype == dw.float64


def test_half_input_suggests_half_model():
    with pytest.raises(DTypeError, match=r"input is float16 but weight is float32; convert the "
                                         r"input with x\.float\(\) \(or the model with "
                                         r"model\.half\(\)\)"):
        nn.Linear(4, 2)(dw.ones(3, 4).half())


def test_functional_ops_name_the_op():
    x64, w = dw.ones(3, 4, dtype=dw.float64), dw.ones(2, 4)
    with pytest.raises(DTypeError, match="^linear: input is float64 but weight is float32"):
        F.linear(x64, w)
    with pytest.raises(DTypeError, match="^linear: bias is float64 but weight is float32"):
        F.linear(dw.ones(3, 4), w, dw.ones(2, dtype=dw.float64))
    with pytest.raises(DTypeError, match="^conv2d: bias is float64 but weight is float32"):
        F.conv2d(dw.ones(1, 1, 4, 4), dw.ones(2, 1, 3, 3), dw.ones(2, dtype=dw.float64))
    with pytest.raises(DTypeError, match="^conv_transpose2d: input is float64"):
        F.conv_transpose2d(dw.ones(1, 1, 4, 4, dtype=dw.float64), dw.ones(1, 2, 3, 3))
    with pytest.raises(DTypeError, match="^lstm: h0 is float64 but weight_ih is float32"):
        dw.ops.rnn.lstm(dw.ones(2, 1, 3), (dw.ones(1, 4, dtype=dw.float64), None),
                        dw.ones(16, 3), dw.ones(16, 4))
    with pytest.raises(DTypeError, match="^gru_cell: input is float64 but weight is float32"):
        dw.ops.rnn.gru_cell(dw.ones(1, 3, dtype=dw.float64), None, dw.ones(12, 3),
                            dw.ones(12, 4))


def test_matmul_needs_one_dtype_as_in_pytorch():
    a32, b64 = dw.ones(3, 4), dw.ones(4, 2, dtype=dw.float64)
    with pytest.raises(DTypeError, match=r"matmul \(a @ b\): a is float32 but b is float64; "
                                         r"convert one of them, e\.g\. b\.float\(\) or "
                                         r"a\.double\(\)"):
        a32 @ b64
    with pytest.raises(DTypeError, match=r"a is int64 but b is float32: convert the integer a "
                                         r"with a\.float\(\)"):
        dw.ones(3, 4, dtype=dw.int64) @ dw.ones(4, 2)
    with pytest.raises(DTypeError, match="bmm: a is float32 but b is float64"):
        dw.bmm(dw.ones(2, 3, 4), dw.ones(2, 4, 5, dtype=dw.float64))
    ints = dw.ones(3, 4, dtype=dw.int64) @ dw.ones(4, 2, dtype=dw.int64)  # allowed, as torch
    assert ints.dtype == dw.int64 and ints.tolist() == [[4, 4]] * 3
    assert (a32 @ b64.float()).dtype == dw.float32


DTYPES = ["float16", "float32", "float64", "int64"]


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_matmul_and_linear_raise_exactly_where_pytorch_does(da, db):
    if torch is None:
        pytest.skip(SKIP_TORCH)
    a, b = np.ones((3, 4)), np.ones((4, 2))
    cases = [(lambda x, y: x @ y, lambda x, y: x @ y),
             (lambda x, y: F.linear(x, y.T.contiguous()),
              lambda x, y: torch.nn.functional.linear(x, y.T.contiguous()))]
    for ours, theirs in cases:
        try:
            theirs(torch.from_numpy(a.astype(da)), torch.from_numpy(b.astype(db)))
            torch_raises = False
        except RuntimeError:
            torch_raises = True
        if torch_raises:
            with pytest.raises(DTypeError):
                ours(dw.tensor(a.astype(da)), dw.tensor(b.astype(db)))
        else:
            out = ours(dw.tensor(a.astype(da)), dw.tensor(b.astype(db)))
            assert out.dtype == np.dtype(da) and out.tolist() == [[4, 4]] * 3


def test_a_float64_model_and_input_compute_in_float64_with_gradients():
    model = Net().double()
    x = dw.randn(3, 4, dtype=dw.float64, requires_grad=True)
    y = model.fc(x)
    y.sum().backward()
    assert y.dtype == dw.float64 and x.grad.dtype == dw.float64
    assert model.fc.weight.grad.dtype == dw.float64


# ---- Tensor.to ----------------------------------------------------------------------------


def test_to_accepts_pytorchs_signatures():
    x = dw.tensor([1.0, 2.0])
    assert x.to(dw.float32) is x and x.to("cpu") is x and x.to(device="cpu") is x
    assert x.to(dw.float64).dtype == dw.float64
    assert x.to(dtype=dw.float64).dtype == dw.float64
    assert x.to("cpu", dw.float64).dtype == dw.float64
    assert x.to(device="cpu", dtype=dw.float64, non_blocking=True).dtype == dw.float64
    assert x.to(dw.float64, True, False).dtype == dw.float64  # dtype, non_blocking, copy
    assert x.to(dw.ones(1, dtype=dw.int64)).dtype == dw.int64  # another tensor's dtype
    assert x.to(float).dtype == dw.float64  # a Python type, as torch accepts
    assert x.to(memory_format=None) is x


def test_to_copy_true_copies_and_stays_in_the_graph():
    x = dw.tensor([1.0, 2.0], requires_grad=True)
    for y in (x.to(copy=True), x.to(dw.float32, copy=True), x.to("cpu", None, False, True)):
        assert y is not x and not np.shares_memory(y.data, x.data)
        assert y.tolist() == [1.0, 2.0]
    y = x.to(copy=True)
    (y * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_to_refuses_unknown_keywords_and_bad_arguments():
    x = dw.tensor([1.0])
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['blah'\]"):
        x.to(blah=1)
    with pytest.raises(TypeError, match=r"\['dtyp'\]"):
        x.to(dtyp=dw.float64)
    with pytest.raises(TypeError, match="multiple values for \\['copy'\\]"):
        x.to(dw.float64, False, True, copy=True)
    with pytest.raises(TypeError, match="at most 4 positional"):
        x.to("cpu", dw.float64, False, True, 1)
    with pytest.raises(TypeError, match="expected a dtype"):
        x.to(object())


def test_to_cuda_says_there_is_no_gpu_backend():
    x = dw.tensor([1.0])
    for dev in ("cuda", "cuda:0", 0):
        with pytest.raises(ValueError, match="no GPU backend"):
            x.to(dev)
    with pytest.raises(ValueError, match="no GPU backend"):
        x.to(device="cuda", dtype=dw.float64)
    with pytest.raises(ValueError, match="unknown device 'blah'"):
        x.to("blah")
    with pytest.raises(ValueError, match="'float64' names a dtype: pass deepwise.float64"):
        x.to("float64")
    with pytest.raises(ValueError, match="no GPU backend"):
        nn.Linear(2, 2).to("cuda")
    with pytest.raises(ValueError, match="no GPU backend"):
        nn.Conv2d(1, 1, 3, device="cuda")


def test_cuda_methods_say_there_is_no_gpu_backend():
    x = dw.tensor([1.0])
    assert x.is_cuda is False
    for call in (x.cuda, nn.Linear(2, 2).cuda, lambda: x.cuda(1)):
        with pytest.raises(ValueError, match="no GPU backend"):
            call()


def test_module_to_follows_the_same_forms():
    m = nn.Linear(2, 2)
    assert m.to("cpu", dw.float64).weight.dtype == dw.float64
    assert m.to(dw.ones(1)).weight.dtype == dw.float32  # another tensor's dtype
    assert m.to(device="cpu", non_blocking=True) is m
    with pytest.raises(TypeError, match="unexpected arguments \\['blah'\\]"):
        m.to(blah=1)


def test_to_agrees_with_pytorch_on_identity_and_copies():
    if torch is None:
        pytest.skip(SKIP_TORCH)
    t, x = torch.tensor([1.0, 2.0]), dw.tensor([1.0, 2.0])
    calls = [((torch.float32,), (dw.float32,), {}), ((torch.float64,), (dw.float64,), {}),
             (("cpu",), ("cpu",), {}), ((), (), {"copy": True}),
             (("cpu", torch.float32), ("cpu", dw.float32), {}),
             ((torch.float32,), (dw.float32,), {"copy": True})]
    for targs, dargs, kw in calls:
        assert (t.to(*targs, **kw) is t) == (x.to(*dargs, **kw) is x), (dargs, kw)
    with pytest.raises(TypeError):
        t.to(blah=1)


def test_explain_tools_give_a_numpy_batch_the_models_dtype():
    from deepwise import explain
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    batch = np.random.default_rng(0).standard_normal((5, 4))  # float64, NumPy's default
    rows = explain.layers(model, batch).rows
    assert [r.shape for r in rows] == [(5, 8), (5, 8), (5, 2)]
    assert len(explain.dead_units(model, batch)) == 1
    with pytest.raises(DTypeError, match=r"model\.0 \(Linear 4->8\)"):  # a tensor is explicit
        explain.layers(model, dw.tensor(batch))
    assert explain.layers(model.double(), batch).rows[0].shape == (5, 8)
