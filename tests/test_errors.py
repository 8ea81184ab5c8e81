"""Errors a user meets: each message names what was wrong, where (layer path), and the fix."""

import numpy as np
import pytest
from helpers import SKIP_TORCH, torch

import deepwise as dw
from deepwise import io, nn, optim
from deepwise.autograd import ShapeError


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x).mean(dim=(2, 3))))


# ---- recurrent layers on an empty batch -----------------------------------------------------


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_layers_on_an_empty_batch_return_empty_outputs(kind, bidirectional):
    dirs = 2 if bidirectional else 1
    layer = getattr(nn, kind)(4, 3, num_layers=2, batch_first=True, bidirectional=bidirectional)
    x = dw.randn(0, 5, 4, requires_grad=True)
    out, state = layer(x)
    h = state[0] if kind == "LSTM" else state
    assert out.shape == (0, 5, 3 * dirs) and h.shape == (2 * dirs, 0, 3)
    out.sum().backward()  # gradients of an empty batch: zeros of the right shapes
    assert x.grad.shape == (0, 5, 4)
    assert all(p.grad is not None and not p.grad.data.any() for p in layer.parameters())
    if torch is None:
        pytest.skip(SKIP_TORCH)
    ref = getattr(torch.nn, kind)(4, 3, num_layers=2, batch_first=True,
                                  bidirectional=bidirectional)
    t_out, t_state = ref(torch.zeros(0, 5, 4))
    t_h = t_state[0] if kind == "LSTM" else t_state
    assert out.shape == tuple(t_out.shape) and h.shape == tuple(t_h.shape)


def test_rnn_on_an_empty_batch_time_major():
    out, h = nn.GRU(4, 3)(dw.randn(7, 0, 4))
    assert out.shape == (7, 0, 3) and h.shape == (1, 0, 3)


# ---- batch norm on too small a batch --------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 5, 5), (0, 1, 5, 5)])
def test_batchnorm_on_a_batch_of_0_or_1_names_the_layer(shape):
    model = Net()
    with pytest.raises(ShapeError) as info:
        model(dw.randn(*shape))
    msg = str(info.value)
    assert msg.startswith("model.bn (BatchNorm1d 4): expected more than 1 value per channel "
                          "when training")
    assert "model.eval()" in msg
    assert ("empty batch" in msg) == (shape[0] == 0)
    assert isinstance(info.value, ValueError)  # PyTorch raises ValueError here
    assert int(model.bn.num_batches_tracked.item()) == 0  # nothing changed before the error


def test_batchnorm_batch_of_one_is_fine_where_pytorch_allows_it():
    bn2 = nn.BatchNorm2d(3)
    assert bn2(dw.randn(1, 3, 2, 2)).shape == (1, 3, 2, 2)  # 4 values per channel
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        bn2(dw.randn(1, 3, 1, 1))
    model = Net().eval()  # running statistics: a single sample is fine
    assert model(dw.randn(1, 1, 5, 5)).shape == (1, 2)


# ---- optimizers given the wrong thing -------------------------------------------------------


def test_optimizer_given_the_model_says_parameters():
    model = Net()
    with pytest.raises(TypeError, match=r"got the model \(Net\) itself; pass "
                                        r"model\.parameters\(\)"):
        optim.SGD(model, lr=0.1)


def test_optimizer_given_a_string_lr_names_it():
    params = list(Net().parameters())
    with pytest.raises(TypeError, match=r"SGD: lr must be a number, got the string '0\.1'"):
        optim.SGD(params, lr="0.1")
    with pytest.raises(TypeError, match=r"Adam: eps must be a number, got the string '1e-8'"):
        optim.Adam(params, eps="1e-8")
    with pytest.raises(TypeError, match="lr must be a number, got NoneType"):
        optim.SGD(params, lr=None)
    opt = optim.SGD(params, lr=0.1)
    with pytest.raises(TypeError, match="lr must be a number, got the string"):
        opt.add_param_group({"params": [dw.zeros(2, requires_grad=True)], "lr": "1e-3"})


def test_optimizer_given_a_used_up_generator_says_so():
    model = Net()
    gen = model.parameters()
    optim.SGD(gen, lr=0.1)  # the first optimizer reads the generator to its end
    with pytest.raises(ValueError, match="already used up") as info:
        optim.Adam(gen, lr=0.1)
    assert "register" not in str(info.value)
    assert "call model.parameters() again" in str(info.value)


def test_optimizer_on_a_model_without_registered_parameters_points_at_modulelist():
    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = [nn.Linear(2, 2)]  # a plain list: not registered

    with pytest.raises(ValueError, match="empty parameter list .*nn.ModuleList") as info:
        optim.SGD(Plain().parameters(), lr=0.1)
    assert "used up" not in str(info.value)


def test_optimizer_given_a_number_names_its_type():
    with pytest.raises(TypeError, match="params must be an iterable .* got a int"):
        optim.SGD(3, lr=0.1)


# ---- convolutions without the channel axis --------------------------------------------------


def test_conv2d_given_n_h_w_for_one_channel_says_unsqueeze():
    model = Net()
    x = dw.randn(8, 5, 5)
    with pytest.raises(ShapeError) as info:
        model(x)
    msg = str(info.value)
    assert msg.startswith("model.conv (Conv2d 1->4): expected input with 1 channel, got "
                          "(8, 5, 5)")
    assert "x.unsqueeze(1) gives (8, 1, 5, 5)" in msg
    assert model(x.unsqueeze(1)).shape == (8, 2)  # the fix works


def test_conv1d_given_n_l_for_one_channel_says_unsqueeze():
    with pytest.raises(ShapeError, match=r"x\.unsqueeze\(1\) gives \(8, 1, 20\)"):
        nn.Conv1d(1, 2, 3)(dw.randn(8, 20))


def test_functional_conv_given_n_h_w_for_one_channel_says_unsqueeze():
    from deepwise.nn import functional as F
    with pytest.raises(ShapeError, match=r"^conv2d: .*got input \(1, 8, 5, 5\); for a batch of "
                                         r"1-channel inputs \(8, 5, 5\) add the channel axis: "
                                         r"x\.unsqueeze\(1\)"):
        F.conv2d(dw.randn(8, 5, 5), dw.randn(2, 1, 3, 3))
    with pytest.raises(ShapeError, match=r"^conv1d: .*x\.unsqueeze\(1\)"):
        F.conv1d(dw.randn(8, 5), dw.randn(2, 1, 3))


def test_no_unsqueeze_hint_when_it_would_not_help():
    with pytest.raises(ShapeError) as info:
        nn.Conv2d(3, 2, 3)(dw.randn(8, 5, 5))
    assert "unsqueeze" not in str(info.value)


# ---- state dicts with a wrapper's prefix ----------------------------------------------------


def test_load_state_dict_with_a_module_prefix_says_so():
    model = Net()
    prefixed = {"module." + k: v for k, v in Net().state_dict().items()}
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(prefixed)
    msg = str(info.value)
    assert "every key of the state_dict starts with 'module.'" in msg
    assert "DataParallel" in msg and "removeprefix('module.')" in msg
    stripped = {k.removeprefix("module."): v for k, v in prefixed.items()}
    model.load_state_dict(stripped)  # the suggested fix loads
    assert np.array_equal(model.fc.weight.data, stripped["fc.weight"])


def test_load_state_dict_into_a_wrapped_model_says_so():
    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = Net()

    with pytest.raises(RuntimeError, match="every key of the model starts with 'module.'"):
        Wrapped().load_state_dict(Net().state_dict())


def test_unrelated_keys_get_no_prefix_hint():
    with pytest.raises(RuntimeError) as info:
        Net().load_state_dict({"encoder.weight": np.zeros(2), "decoder.bias": np.zeros(2)})
    assert "Hint" not in str(info.value)


def test_checkpoint_with_a_module_prefix_says_so(tmp_path):
    path = tmp_path / "ddp.safetensors"
    io.save({"module." + k: v for k, v in Net().state_dict().items()}, path)
    with pytest.raises(io.CheckpointError, match="hint: every key of the state_dict starts "
                                                 "with 'module.'"):
        io.load_checkpoint(path, Net())
