"""nn.Module and nn.Parameter: registration, iteration, modes, state dicts, hooks, repr, errors."""

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest
from helpers import needs_torch, torch

import deepwise as dw
from deepwise import nn
from deepwise.autograd import ShapeError

tnn = torch.nn if torch is not None else None  # the comparisons with PyTorch skip without it


# ---- models used by several tests (the same structure in deepwise and in PyTorch) ------------

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(dw.ones(4))
        self.fc = nn.Linear(4, 4)
        self.register_buffer("count", dw.zeros(1))
        self.register_buffer("cache", dw.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x * self.scale)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 4)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, bias=False))

    def forward(self, x):
        x = self.embed(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def torch_net():
    class Block(tnn.Module):  # noqa: N801 - the same class names as the deepwise model
        def __init__(self):
            super().__init__()
            self.scale = tnn.Parameter(torch.ones(4))
            self.fc = tnn.Linear(4, 4)
            self.register_buffer("count", torch.zeros(1))
            self.register_buffer("cache", torch.zeros(2), persistent=False)

        def forward(self, x):
            return self.fc(x * self.scale)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embed = tnn.Linear(3, 4)
            self.blocks = tnn.ModuleList([Block(), Block()])
            self.head = tnn.Sequential(tnn.ReLU(), tnn.Linear(4, 2, bias=False))

        def forward(self, x):
            x = self.embed(x)
            for b in self.blocks:
                x = b(x)
            return self.head(x)

    return Net()


# ---- Parameter ---------------------------------------------------------------------------------

def test_parameter_requires_grad_shares_memory_and_repr():
    t = dw.ones(2)
    p = nn.Parameter(t)
    assert isinstance(p, dw.Tensor) and p.requires_grad and p.is_leaf
    assert np.shares_memory(p.data, t.data)  # no copy, as in PyTorch
    assert not nn.Parameter(dw.ones(2), requires_grad=False).requires_grad
    y = p * 2
    assert type(y) is dw.Tensor and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(p.grad.data, [2.0, 2.0])
    assert repr(nn.Parameter(dw.ones(2))) == \
        "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    needs_torch()
    assert repr(p) == repr(tnn.Parameter(torch.ones(2)))


def test_parameter_deepcopy_and_pickle():
    p = nn.Parameter(dw.tensor([1.0, 2.0]))
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert isinstance(q, nn.Parameter) and q.requires_grad
        assert not np.shares_memory(q.data, p.data)
        np.testing.assert_array_equal(q.data, p.data)


# ---- registration and iteration --------------------------------------------------------------

NET_PARAMS = ["embed.weight", "embed.bias", "blocks.0.scale", "blocks.0.fc.weight",
              "blocks.0.fc.bias", "blocks.1.scale", "blocks.1.fc.weight", "blocks.1.fc.bias",
              "head.1.weight"]


def test_named_parameters_state_dict_and_module_names():
    """PyTorch's names and order (written out, so this runs without it)."""
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NET_PARAMS
    assert list(net.state_dict()) == ["embed.weight", "embed.bias", "blocks.0.scale",
                                      "blocks.0.count", "blocks.0.fc.weight", "blocks.0.fc.bias",
                                      "blocks.1.scale", "blocks.1.count", "blocks.1.fc.weight",
                                      "blocks.1.fc.bias", "head.1.weight"]
    assert [n for n, _ in net.named_buffers()] == ["blocks.0.count", "blocks.0.cache",
                                                   "blocks.1.count", "blocks.1.cache"]
    assert [n for n, _ in net.named_modules()] == ["", "embed", "blocks", "blocks.0",
                                                   "blocks.0.fc", "blocks.1", "blocks.1.fc",
                                                   "head", "head.0", "head.1"]
    assert [n for n, _ in net.named_children()] == ["embed", "blocks", "head"]
    assert [n for n, _ in net.blocks[0].named_parameters(prefix="b", recurse=False)] == \
        ["b.scale"]
    assert len(list(net.parameters())) == 9


def test_named_parameters_and_state_dict_keys_match_pytorch():
    needs_torch()
    net, tnet = Net(), torch_net()
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]
    assert list(net.state_dict()) == list(tnet.state_dict())
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in tnet.named_buffers()]
    assert [n for n, _ in net.named_modules()] == [n for n, _ in tnet.named_modules()]
    assert [n for n, _ in net.named_children()] == [n for n, _ in tnet.named_children()]
    assert [n for n, _ in net.blocks[0].named_parameters(prefix="b", recurse=False)] == \
        ["b.scale"]
    assert len(list(net.parameters())) == len(list(tnet.parameters())) == 9


def test_registration_order_is_insertion_order():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.z = nn.Parameter(dw.zeros(1))
            self.a = nn.Linear(1, 1)
            self.m = nn.Parameter(dw.zeros(1))

    assert [n for n, _ in M().named_parameters()] == ["z", "m", "a.weight", "a.bias"]
    assert list(M().state_dict()) == ["z", "m", "a.weight", "a.bias"]


def test_shared_parameters_and_modules_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.modules())) == 3  # Sequential, Linear, ReLU
    # the state dict lists a shared tensor under each name, as PyTorch does
    both = ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(model.state_dict()) == both
    assert [n for n, _ in model.named_parameters(remove_duplicate=False)] == both
    needs_torch()
    tshared = tnn.Linear(2, 2)
    tmodel = tnn.Sequential(tshared, tnn.ReLU(), tshared)
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert [n for n, _ in model.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in tmodel.named_parameters(remove_duplicate=False)]


def test_setattr_getattr_delattr_rules():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m.weight = dw.zeros(3, 2)
    m.bias = None  # allowed: a declared, absent parameter
    assert "bias" not in dict(m.named_parameters()) and m.bias is None
    m.extra = nn.ReLU()
    assert dict(m.named_children())["extra"] is m.extra
    m.extra = nn.Parameter(dw.zeros(1))  # moves from the modules to the parameters
    assert "extra" not in dict(m.named_children())
    assert "extra" in dict(m.named_parameters())
    del m.extra
    assert "extra" not in dict(m.named_parameters())
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        _ = m.nope
    m.plain = dw.zeros(2)  # a plain tensor is an attribute, not a buffer
    assert list(m.buffers()) == []

    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(dw.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", dw.zeros(1))
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(dw.zeros(1))


def test_buffers_persistent_and_not():
    b = Block()
    assert [n for n, _ in b.named_buffers()] == ["count", "cache"]
    # per module: its parameters, its persistent buffers, then its children (PyTorch's order)
    assert list(b.state_dict()) == ["scale", "count", "fc.weight", "fc.bias"]
    b.count = dw.ones(1)  # reassigning a buffer keeps it registered
    np.testing.assert_array_equal(b.state_dict()["count"], [1.0])
    with pytest.raises(TypeError, match="buffer 'count'"):
        b.count = 3


def test_train_eval_propagates():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.blocks.train()
    assert net.blocks[1].fc.training and not net.training and not net.head.training


def test_zero_grad_requires_grad_apply():
    net = Net()
    net(dw.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.embed.requires_grad_(False)
    out = net(dw.ones(2, 3)).sum()
    out.backward()
    assert net.embed.weight.grad is None and net.head[1].weight.grad is not None
    seen = []
    net.head.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["ReLU", "Linear", "Sequential"]


def test_to_dtype_keeps_parameter_objects():
    net = Net()
    params = list(net.parameters())
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert net.blocks[0].count.dtype == np.float64
    assert net(dw.ones(1, 3, dtype=dw.float64)).dtype == np.float64
    with pytest.raises(ValueError, match="device"):
        net.to("cuda")


def test_get_submodule_and_parameter():
    net = Net()
    assert net.get_submodule("blocks.1.fc") is net.blocks[1].fc
    assert net.get_parameter("head.1.weight") is net.head[1].weight
    with pytest.raises(AttributeError, match="no sub-module 'nope'"):
        net.get_submodule("blocks.nope")


# ---- state dicts -----------------------------------------------------------------------------

def test_state_dict_shares_memory_and_round_trips():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict) and all(isinstance(v, np.ndarray) for v in sd.values())
    snapshot = {k: v.copy() for k, v in sd.items()}
    sd["embed.weight"][...] = 7.0  # a view, as in PyTorch: the parameter changes with it
    np.testing.assert_array_equal(net.embed.weight.data, 7.0)
    net.embed.bias.data[...] = 3.0  # and the other way round (what training does)
    np.testing.assert_array_equal(sd["embed.bias"], 3.0)
    assert not np.any(snapshot["embed.weight"] == 7.0)  # a copy keeps the old values
    other = Net()
    x = dw.tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    assert other.load_state_dict(sd) == ([], [])
    np.testing.assert_array_equal(other.embed.weight.data, 7.0)
    assert not np.shares_memory(other.embed.weight.data, net.embed.weight.data)  # loaded: copied
    np.testing.assert_array_equal(other(x).data, net(x).data)
    assert net.state_dict(keep_vars=True)["embed.weight"] is net.embed.weight
    needs_torch()
    tnet = torch.nn.Linear(3, 2)
    tnet.state_dict()["weight"].zero_()  # PyTorch's state-dict values are views too
    assert not tnet.weight.detach().numpy().any()


def test_load_pytorch_state_dict_gives_pytorch_outputs():
    needs_torch()
    net, tnet = Net(), torch_net()
    with torch.no_grad():
        for p in tnet.parameters():
            p.normal_()
    net.load_state_dict({k: v.detach().numpy() for k, v in tnet.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(net(dw.tensor(x)).data, tnet(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    other = Net()
    other.load_state_dict(tnet.state_dict())  # PyTorch tensors directly work too
    np.testing.assert_array_equal(other.embed.weight.data, net.embed.weight.data)
    # and back: deepwise's state dict loads into PyTorch
    tnet2 = torch_net()
    tnet2.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()})
    np.testing.assert_array_equal(tnet2.embed.weight.detach().numpy(), net.embed.weight.data)


def test_load_state_dict_errors_list_every_problem_and_change_nothing():
    net = Net()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    sd = net.state_dict()
    del sd["head.1.weight"]
    sd["blocks.0.fc.weight"] = np.zeros((4, 5), np.float32)
    sd["embed.bias"] = np.full(4, 3.0, np.float32)
    sd["bogus"] = np.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "head.1.weight"' in msg
    assert 'Unexpected key(s) in state_dict: "bogus"' in msg
    assert "blocks.0.fc.weight: copying a param with shape (4, 5), the shape in the current " \
           "model is (4, 4)" in msg
    for k, v in net.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(v, before[k])
    del sd["blocks.0.fc.weight"]
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["blocks.0.fc.weight", "head.1.weight"] and unexpected == ["bogus"]
    np.testing.assert_array_equal(net.embed.bias.data, 3.0)
    sd["blocks.0.fc.weight"] = np.zeros((4, 5), np.float32)
    with pytest.raises(RuntimeError, match="Size mismatch"):  # even when not strict
        net.load_state_dict(sd, strict=False)


# ---- hooks and the call stack ----------------------------------------------------------------

def test_forward_hooks_fire_modify_and_remove():
    fc = nn.Linear(2, 2)
    calls = []
    h1 = fc.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = fc.register_forward_hook(lambda m, args, out: calls.append(tuple(out.shape)))
    h3 = fc.register_forward_hook(lambda m, args, out: out + 100)
    out = fc(dw.ones(3, 2))
    np.testing.assert_allclose(out.data, np.broadcast_to(fc.bias.data + 100, (3, 2)))
    assert calls == [(3, 2)]
    for h in (h1, h2, h3):
        h.remove()
    np.testing.assert_allclose(fc(dw.ones(3, 2)).data,
                               np.broadcast_to(fc.weight.data.sum(1) + fc.bias.data, (3, 2)),
                               rtol=1e-6)
    assert calls == [(3, 2)]
    order = []
    fc.register_forward_hook(lambda *a: order.append("second"))
    fc.register_forward_hook(lambda *a: order.append("first"), prepend=True)
    fc(dw.ones(1, 2))
    assert order == ["first", "second"]


def test_global_module_hooks_see_every_call():
    net = Net()
    seen, pre = [], []
    with nn.register_module_forward_hook(lambda m, a, o: seen.append(type(m).__name__)), \
            nn.register_module_forward_pre_hook(lambda m, a: pre.append(type(m).__name__)):
        net(dw.ones(1, 3))
    assert pre[0] == "Net" and seen[-1] == "Net"
    assert seen == ["Linear", "Linear", "Block", "Linear", "Block", "ReLU", "Linear",
                    "Sequential", "Net"]
    net(dw.ones(1, 3))
    assert len(seen) == 9  # removed


def test_call_stack_during_forward():
    stacks = []

    class Probe(nn.Module):
        def forward(self, x):
            stacks.append(nn.module_call_stack())
            return x

    probe = Probe()
    outer = nn.Sequential(nn.Identity(), probe)
    outer(dw.ones(1))
    assert stacks == [(outer, probe)]
    assert nn.module_call_stack() == ()


# ---- errors with the layer path --------------------------------------------------------------

class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(self.fc1(x))


def test_shape_error_names_the_layer_path():
    model = TwoLayer()
    with pytest.raises(ShapeError) as info:
        model(dw.zeros(128, 64))
    assert str(info.value) == \
        "model.fc2 (Linear 256->10): expected input (..., 256), got (128, 128)"
    assert info.value.layer_path == "model.fc2" and info.value.module is model.fc2
    assert nn.module_call_stack() == ()  # the stack unwound
    model.fc2 = nn.Linear(128, 10)
    assert model(dw.zeros(2, 64)).shape == (2, 10)


def test_shape_error_path_in_nested_containers_and_root():
    seq = nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.ReLU(), nn.Linear(3, 2)))
    with pytest.raises(ShapeError, match=r"^model\.1\.1 \(Linear 3->2\): expected input "
                                         r"\(\.\.\., 3\), got \(5, 8\)$"):
        seq(dw.zeros(5, 4))
    with pytest.raises(ShapeError, match=r"^model \(Linear 4->8\): expected input \(\.\.\., 4\), "
                                         r"got \(2, 3\)$"):
        seq[0](dw.zeros(2, 3))
    # an op's own error inside a layer gets the path too
    model = nn.Sequential(nn.Identity(), nn.Unflatten(1, (2, 2)))
    with pytest.raises(ShapeError, match=r"^model\.1 \(Unflatten\): Unflatten: dim 1 of size 5"):
        model(dw.zeros(3, 5))
    # a failure leaves nothing behind: the next correct call works
    assert seq[1][1](dw.zeros(5, 3)).shape == (5, 2)


def test_shape_error_in_unregistered_module_still_reports():
    inner = nn.Linear(3, 2)

    class Wrapper(nn.Module):
        def forward(self, x):
            return inner(x)

    with pytest.raises(ShapeError, match=r"^model\.<unregistered Linear> \(Linear 3->2\)"):
        Wrapper()(dw.zeros(1, 4))


# ---- printing and copying --------------------------------------------------------------------

NET_REPR = """Net(
  (embed): Linear(in_features=3, out_features=4, bias=True)
  (blocks): ModuleList(
    (0-1): 2 x Block(
      (fc): Linear(in_features=4, out_features=4, bias=True)
    )
  )
  (head): Sequential(
    (0): ReLU()
    (1): Linear(in_features=4, out_features=2, bias=False)
  )
)"""


def test_repr_matches_pytorch():
    """PyTorch's text (repeated children folded into ``(0-1): 2 x``), written out."""
    assert repr(Net()) == NET_REPR
    assert repr(nn.Module()) == "Module()"
    needs_torch()
    assert repr(torch_net()) == NET_REPR


def test_deepcopy_and_pickle_model():
    net = Net()
    x = dw.ones(2, 3)
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(other(x).data, net(x).data)
        assert other.embed.weight is not net.embed.weight
        assert isinstance(other.embed.weight, nn.Parameter)
        assert [n for n, _ in other.named_parameters()] == [n for n, _ in net.named_parameters()]
