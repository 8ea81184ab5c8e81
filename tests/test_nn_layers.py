"""Layers, losses and containers: parity with PyTorch using the same weights (outputs and
input/weight gradients), init, repr, summary, and a small model that must learn."""

import io
import math
from collections import OrderedDict
from contextlib import redirect_stdout

import numpy as np
import pytest
from helpers import needs_torch, torch

import deepwise as dw
from deepwise import nn
from deepwise.autograd import ShapeError

tnn = torch.nn if torch is not None else None  # the comparisons with PyTorch skip without it


def randn(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def copy_weights(layer, tlayer):
    """Give the deepwise layer PyTorch's weights, the way a user would."""
    layer.load_state_dict({k: v.detach().numpy() for k, v in tlayer.state_dict().items()})


def check_parity(layer, tlayer, *inputs, rtol=1e-5, atol=1e-6, grad=(True,)):
    """Same outputs and same gradients (inputs that ``grad`` marks, and every parameter) as
    PyTorch for a random upstream gradient."""
    copy_weights(layer, tlayer)
    grad = tuple(grad) + (False,) * (len(inputs) - len(grad))
    xs = [dw.tensor(x, requires_grad=g) for x, g in zip(inputs, grad)]
    ts = [torch.tensor(x, requires_grad=g) for x, g in zip(inputs, grad)]
    out, tout = layer(*xs), tlayer(*ts)
    tv = tout.detach().numpy()
    assert tuple(out.shape) == tv.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.data, tv, rtol=rtol, atol=atol, err_msg="output")
    w = randn(*tv.shape, seed=99)
    (out * dw.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t.requires_grad:
            np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=rtol * 10,
                                       atol=atol * 10, err_msg=f"grad of input #{i}")
    tparams = dict(tlayer.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad.data, tparams[name].grad.numpy(), rtol=rtol * 10,
                                   atol=atol * 10, err_msg=f"grad of {name}")
    return out


# ---- Linear ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,bias", [((5, 7), True), ((2, 3, 7), True), ((1, 7), False),
                                        ((7,), True)])
def test_linear_parity(shape, bias):
    needs_torch()
    check_parity(nn.Linear(7, 4, bias=bias), tnn.Linear(7, 4, bias=bias), randn(*shape))


def test_linear_gradcheck_float64():
    fc = nn.Linear(3, 2).double()
    x = dw.tensor(randn(4, 3).astype(np.float64), requires_grad=True)
    assert dw.autograd.gradcheck(lambda x, w, b: fc(x), [x, fc.weight, fc.bias])


def test_linear_default_init_is_pytorchs():
    fc = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)) on the weight gives the same bound
    for a in (fc.weight.data, fc.bias.data):
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.95 * bound
    np.testing.assert_allclose(fc.weight.data.std(), bound / math.sqrt(3), rtol=0.02)
    np.testing.assert_allclose(fc.bias.data.std(), bound / math.sqrt(3), rtol=0.15)
    fc.weight.data[...] = 0
    fc.reset_parameters()
    assert fc.weight.data.std() > 0
    needs_torch()
    tfc = tnn.Linear(400, 300)
    for a, t in ((fc.weight.data, tfc.weight.detach().numpy()),
                 (fc.bias.data, tfc.bias.detach().numpy())):
        assert np.abs(t).max() <= bound
        np.testing.assert_allclose(a.std(), t.std(), rtol=0.1 if a.ndim == 1 else 0.02)


def test_linear_shape_error_and_dtype():
    with pytest.raises(ShapeError, match=r"^model \(Linear 7->4\): expected input \(\.\.\., 7\), "
                                         r"got \(2, 5\)$"):
        nn.Linear(7, 4)(dw.zeros(2, 5))
    assert nn.Linear(2, 2, dtype=dw.float64).weight.dtype == np.float64


# ---- shape layers ---------------------------------------------------------------------------

@pytest.mark.parametrize("start,end", [(1, -1), (0, -1), (1, 2), (-2, -1), (2, 2)])
def test_flatten_parity(start, end):
    needs_torch()
    check_parity(nn.Flatten(start, end), tnn.Flatten(start, end), randn(2, 3, 4, 5))


@pytest.mark.parametrize("dim,sizes", [(1, (3, 4)), (-1, (2, -1)), (0, (1, 2))])
def test_unflatten_parity(dim, sizes):
    needs_torch()
    check_parity(nn.Unflatten(dim, sizes), tnn.Unflatten(dim, sizes), randn(2, 12))


def test_shape_layer_errors():
    with pytest.raises(ShapeError, match="cannot be split into"):
        nn.Unflatten(1, (5, 2))(dw.zeros(2, 12))
    with pytest.raises(ShapeError, match="start_dim 2 comes after end_dim 1"):
        nn.Flatten(2, 1)(dw.zeros(2, 3, 4))
    with pytest.raises(ShapeError, match="dim 3 is out of range"):
        nn.Flatten(3)(dw.zeros(2, 3))
    x = dw.zeros(2, 3)
    assert nn.Identity(54, unused="x")(x) is x


# ---- Dropout --------------------------------------------------------------------------------

def test_dropout_train_and_eval():
    drop = nn.Dropout(0.3)
    x = dw.ones(200, 500, requires_grad=True)
    y = drop(x)
    zero = y.data == 0
    assert abs(zero.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y.data[~zero], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.where(zero, 0.0, 1 / 0.7), rtol=1e-6)
    drop.eval()
    np.testing.assert_array_equal(drop(x).data, x.data)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    model.eval()
    assert not model[1].training
    np.testing.assert_array_equal(model(dw.ones(3, 4)).data, model(dw.ones(3, 4)).data)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_is_repeatable_with_seed():
    dw.manual_seed(5)
    a = nn.Dropout(0.5)(dw.ones(50)).data
    dw.manual_seed(5)
    b = nn.Dropout(0.5)(dw.ones(50)).data
    np.testing.assert_array_equal(a, b)


# ---- activations ----------------------------------------------------------------------------

ACTS = [  # each builds the layer from either library (m: nn or tnn)
    lambda m: m.ReLU(), lambda m: m.LeakyReLU(0.2), lambda m: m.ELU(0.7), lambda m: m.GELU(),
    lambda m: m.GELU("tanh"), lambda m: m.SiLU(), lambda m: m.Sigmoid(), lambda m: m.Tanh(),
    lambda m: m.Softplus(2.0, 5.0), lambda m: m.Softmax(dim=1), lambda m: m.Softmax(dim=-1),
    lambda m: m.LogSoftmax(dim=1),
]


@pytest.mark.parametrize("make", ACTS, ids=[repr(make(nn)) for make in ACTS])
def test_activation_parity(make):
    needs_torch()
    x = randn(3, 5, 4, scale=3.0)
    x[0, 0, :] = [0.5, -0.5, 4.0, -4.0]  # away from the kinks at 0, across both sides
    check_parity(make(nn), make(tnn), x)


def test_softmax_implicit_dim_warns_like_pytorch():
    x = randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = nn.Softmax()(dw.tensor(x))
    np.testing.assert_allclose(out.data.sum(1), 1.0, rtol=1e-6)


# ---- losses ---------------------------------------------------------------------------------

def _labels(n, c, seed=0, shape=None):
    return np.random.default_rng(seed).integers(0, c, size=shape or (n,)).astype(np.int64)


def check_loss(loss, tloss, x, target, rtol=1e-5, atol=1e-6):
    """Value and input gradient equal PyTorch's (weights/pos_weight are buffers, not params)."""
    xd, xt = dw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = loss(xd, dw.tensor(target))
    tout = tloss(xt, torch.tensor(target))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol)
    w = randn(*tout.shape, seed=3)
    (out * dw.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xd.grad.data, xt.grad.numpy(), rtol=rtol * 10, atol=atol * 10)


CLS_W = np.array([0.2, 1.0, 2.0, 0.5, 1.5], np.float32)


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                {"weight": CLS_W}, {"ignore_index": 2},
                                {"weight": CLS_W, "ignore_index": 1, "label_smoothing": 0.1},
                                {"label_smoothing": 0.2, "reduction": "none"}])
def test_cross_entropy_loss_parity(kw):
    needs_torch()
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    check_loss(nn.CrossEntropyLoss(**kw), tnn.CrossEntropyLoss(**tkw), randn(6, 5, scale=2.0),
               _labels(6, 5))


def test_cross_entropy_spatial_and_nll_parity():
    needs_torch()
    x = randn(2, 5, 3, 4)
    check_loss(nn.CrossEntropyLoss(), tnn.CrossEntropyLoss(), x, _labels(2, 5, shape=(2, 3, 4)))
    logp = np.log(np.exp(x[:, :, 0, 0]) / np.exp(x[:, :, 0, 0]).sum(1, keepdims=True))
    check_loss(nn.NLLLoss(weight=CLS_W), tnn.NLLLoss(weight=torch.tensor(CLS_W)),
               logp.astype(np.float32), _labels(2, 5, seed=1))


@pytest.mark.parametrize("make", [
    lambda m: m.MSELoss(), lambda m: m.MSELoss(reduction="sum"), lambda m: m.L1Loss(),
    lambda m: m.L1Loss(reduction="none"), lambda m: m.SmoothL1Loss(beta=0.5),
    lambda m: m.SmoothL1Loss(reduction="none"), lambda m: m.HuberLoss(delta=2.0),
    lambda m: m.HuberLoss(reduction="sum")])
def test_regression_loss_parity(make):
    needs_torch()
    check_loss(make(nn), make(tnn), randn(4, 6, scale=2.0), randn(4, 6, seed=1))


def test_bce_losses_parity():
    needs_torch()
    p = 1 / (1 + np.exp(-randn(4, 3, scale=2.0)))
    t = (randn(4, 3, seed=1) > 0).astype(np.float32)
    w = np.array([0.5, 1.0, 2.0], np.float32)
    check_loss(nn.BCELoss(), tnn.BCELoss(), p, t)
    check_loss(nn.BCELoss(weight=w, reduction="sum"),
               tnn.BCELoss(weight=torch.tensor(w), reduction="sum"), p, t)
    logits = randn(4, 3, scale=3.0)
    check_loss(nn.BCEWithLogitsLoss(), tnn.BCEWithLogitsLoss(), logits, t)
    check_loss(nn.BCEWithLogitsLoss(weight=w, pos_weight=np.array([3.0, 1.0, 0.5], np.float32),
                                    reduction="none"),
               tnn.BCEWithLogitsLoss(weight=torch.tensor(w), reduction="none",
                                     pos_weight=torch.tensor([3.0, 1.0, 0.5])), logits, t)


def test_loss_buffers_and_options():
    loss = nn.BCEWithLogitsLoss(pos_weight=np.ones(3, np.float32))
    assert list(loss.state_dict()) == ["pos_weight"]
    assert list(nn.CrossEntropyLoss(weight=CLS_W).state_dict()) == ["weight"]
    with pytest.raises(ValueError, match="reduction must be"):
        nn.MSELoss(reduction="avg")
    needs_torch()
    assert list(tnn.BCEWithLogitsLoss(pos_weight=torch.ones(3)).state_dict()) == ["pos_weight"]


# ---- containers -----------------------------------------------------------------------------

def test_sequential_mlp_parity_and_state_dict_keys():
    needs_torch()
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(),
                          nn.Linear(8, 3))
    tmodel = tnn.Sequential(tnn.Linear(6, 16), tnn.ReLU(), tnn.Linear(16, 8), tnn.Tanh(),
                            tnn.Linear(8, 3))
    assert list(model.state_dict()) == list(tmodel.state_dict())
    check_parity(model, tmodel, randn(10, 6))


def test_sequential_indexing_slicing_and_editing():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert [k for k, _ in tail.named_children()] == ["1", "2"]  # keys kept, as PyTorch
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        seq[3]
    d = nn.Sigmoid()
    seq.append(d)
    assert seq[3] is d and [k for k, _ in seq.named_children()] == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq) == [a, c, d] and [k for k, _ in seq.named_children()] == ["0", "1", "2"]
    seq.insert(1, b)
    assert list(seq) == [a, b, c, d]
    seq[3] = nn.Identity()
    assert isinstance(seq[3], nn.Identity)
    assert seq(dw.ones(4, 2)).shape == (4, 1)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    assert named.fc is named[0]


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers += [nn.Tanh()]
    assert [type(m).__name__ for m in layers] == ["Linear"] * 3 + ["ReLU", "Tanh"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert [k for k, _ in layers.named_children()] == ["0", "1", "2", "3"]
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 5
    with pytest.raises(TypeError, match="iterable of modules"):
        layers.extend(nn.ReLU())
    with pytest.raises(NotImplementedError):
        layers(dw.ones(1))
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "box": nn.Linear(4, 2)})
    assert list(heads) == ["cls", "box"] and "cls" in heads and len(heads) == 2
    assert [n for n, _ in heads.named_parameters()] == \
        ["cls.weight", "cls.bias", "box.weight", "box.bias"]
    heads["aux"] = nn.Identity()
    assert list(heads.keys()) == ["cls", "box", "aux"]
    assert heads.pop("aux").__class__ is nn.Identity and len(heads) == 2
    with pytest.raises(KeyError, match="no key 'nope'"):
        heads["nope"]
    assert list(heads.state_dict()) == ["cls.weight", "cls.bias", "box.weight", "box.bias"]
    needs_torch()
    theads = tnn.ModuleDict({"cls": tnn.Linear(4, 3), "box": tnn.Linear(4, 2)})
    assert list(heads.state_dict()) == list(theads.state_dict())


# ---- repr -----------------------------------------------------------------------------------

def test_layer_reprs_match_pytorch():
    needs_torch()

    def build(m):
        return m.Sequential(
            m.Linear(2, 3), m.Linear(3, 4, bias=False), m.ReLU(), m.ReLU(inplace=True),
            m.LeakyReLU(), m.ELU(), m.GELU(), m.GELU("tanh"), m.SiLU(), m.Sigmoid(), m.Tanh(),
            m.Softplus(), m.Softmax(dim=1), m.LogSoftmax(1), m.Softmax(), m.Dropout(0.2),
            m.Flatten(), m.Unflatten(1, (2, 5)), m.Identity(), m.CrossEntropyLoss(),
            m.NLLLoss(), m.MSELoss(), m.L1Loss(), m.SmoothL1Loss(beta=0.5), m.HuberLoss(),
            m.BCELoss(), m.BCEWithLogitsLoss(),
            m.ModuleList([m.ReLU(), m.ReLU(), m.Tanh()]), m.ModuleDict({"a": m.Tanh()}),
            m.Sequential(m.Linear(1, 1)), m.ModuleList())
    assert repr(build(nn)) == repr(build(tnn))


# ---- summary --------------------------------------------------------------------------------

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.cls = nn.Parameter(dw.zeros(1, 8))
        self.proj = nn.Linear(5, 8)
        self.blocks = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Dropout(0.1))
        self.unused = nn.Linear(8, 100)

    def forward(self, x):
        return self.blocks(self.proj(x) + self.cls)


SUMMARY = """\
Model: "Sequential"    input: (1, 3, 5)
---------------------------------------------
Layer        Type      Output shape   Param #
=============================================
0            Encoder   (1, 3, 8)            8
0.proj       Linear    (1, 3, 8)           48
0.blocks.0   Linear    (1, 3, 8)           72
0.blocks.1   GELU      (1, 3, 8)            0
0.blocks.2   Dropout   (1, 3, 8)            0
1            Flatten   (1, 24)              0
2            Linear    (1, 2)              50
=============================================
Total params: 1,078
Trainable params: 1,030
Non-trainable params: 48
(900 of them in modules the forward pass did not call)
"""


def test_summary_counts_shapes_and_restores_mode():
    model = nn.Sequential(Encoder(), nn.Flatten(), nn.Linear(24, 2))
    model.train()
    model[0].proj.requires_grad_(False)
    buf = io.StringIO()
    with redirect_stdout(buf):
        s = model.summary((3, 5))
    total = sum(p.numel() for p in model.parameters())
    assert s.total_params == total == 8 + 48 + 72 + 900 + 50
    assert s.non_trainable_params == 48 and s.trainable_params == total - 48
    assert s.uncalled_params == 900
    assert [r[0] for r in s.rows] == ["0", "0.proj", "0.blocks.0", "0.blocks.1", "0.blocks.2",
                                      "1", "2"]
    assert [r[2] for r in s.rows] == ["(1, 3, 8)"] * 5 + ["(1, 24)", "(1, 2)"]
    assert [r[3] for r in s.rows] == [8, 48, 72, 0, 0, 0, 50]
    assert sum(r[3] for r in s.rows) + s.uncalled_params == total
    assert buf.getvalue() == SUMMARY  # what was printed: the rows and counts above, as text
    assert str(s) == SUMMARY.rstrip("\n")
    assert all(m.training for m in model.modules())  # mode restored
    assert all(p.grad is None for p in model.parameters())


def test_summary_function_batch_and_inputs():
    fc = nn.Linear(4, 3)
    s = nn.summary(fc, (7, 4), batch_size=None, print_fn=None)
    assert s.rows == [("model", "Linear", "(7, 3)", 15)] and s.input_shapes == [(7, 4)]
    s = nn.summary(fc, input=dw.ones(2, 4), print_fn=None)
    assert s.rows[0][2] == "(2, 3)" and "15 parameters" in repr(s)

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 3), nn.Linear(4, 3)

        def forward(self, x, y):
            return self.a(x), self.b(y)

    s = Two().summary([(2,), (4,)], print_fn=None)
    assert [r[0] for r in s.rows] == ["a", "b"] and s.total_params == 9 + 15
    with pytest.raises(ShapeError, match=r"^model\.b \(Linear 4->3\)"):
        Two().summary([(2,), (5,)], print_fn=None)


# ---- learning -------------------------------------------------------------------------------

def test_mlp_learns_xor_with_hand_written_sgd():
    dw.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    loss_fn = nn.BCEWithLogitsLoss()
    x = dw.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = dw.tensor([[0.0], [1.0], [1.0], [0.0]])
    first = None
    for _ in range(600):
        loss = loss_fn(model(x), y)
        first = loss.item() if first is None else first
        model.zero_grad()
        loss.backward()
        with dw.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    assert first > 0.6 and loss.item() < 0.05
    pred = (model(x).data > 0).astype(np.float32)
    np.testing.assert_array_equal(pred, y.data)
