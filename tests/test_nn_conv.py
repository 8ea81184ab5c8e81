"""Convolution, pooling, normalisation, upsampling and Dropout2d layers: parity with PyTorch
using the same weights (outputs, input and parameter gradients, buffers), PyTorch's default
init, parameter/buffer names, repr, layer-path errors, and a whole CNN with every layer type
loaded from a PyTorch state dict (train and eval mode)."""

import math

import numpy as np
import pytest
from helpers import needs_torch, torch

import deepwise as dw
from deepwise import nn, optim
from deepwise.autograd import ShapeError, gradcheck

tnn = torch.nn if torch is not None else None  # the comparisons with PyTorch skip without it


def randn(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def copy_weights(layer, tlayer):
    """Give the deepwise layer PyTorch's weights, the way a user would (``.numpy()``)."""
    layer.load_state_dict({k: v.detach().numpy() for k, v in tlayer.state_dict().items()})


def check_parity(layer, tlayer, x, rtol=1e-4, atol=1e-5, copy=True, **kwargs):
    """Same output and the same input and parameter gradients as PyTorch for a random
    upstream gradient (x may be a non-contiguous view: it is passed as it is)."""
    if copy:
        copy_weights(layer, tlayer)
    xd = dw.from_numpy(x).requires_grad_(True)
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)
    out, tout = layer(xd, **kwargs), tlayer(xt, **kwargs)
    tv = tout.detach().numpy()
    assert tuple(out.shape) == tv.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.data, tv, rtol=rtol, atol=atol, err_msg="output")
    g = randn(*tv.shape, seed=99)
    (out * dw.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xd.grad.data, xt.grad.numpy(), rtol=rtol, atol=atol * 10,
                               err_msg="input grad")
    tparams = dict(tlayer.named_parameters())
    names = [n for n, _ in layer.named_parameters()]
    assert names == list(tparams), (names, list(tparams))
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad.data, tparams[name].grad.numpy(), rtol=rtol,
                                   atol=atol * 10, err_msg=f"grad of {name}")
    return out


# ---- convolutions ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,shape", [
    (dict(in_channels=3, out_channels=8, kernel_size=3, padding=1), (2, 3, 9, 7)),
    (dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0),
          dilation=(1, 2), groups=2, bias=False), (3, 4, 10, 8)),
    (dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, padding="same"), (1, 4, 5, 6)),
    (dict(in_channels=2, out_channels=3, kernel_size=4, padding="same", dilation=2),
     (2, 2, 7, 7)),
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding="valid"), (2, 5, 5)),
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding=2, padding_mode="reflect"),
     (2, 2, 6, 5)),
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode="circular"),
     (2, 2, 6, 5)),
    (dict(in_channels=2, out_channels=3, kernel_size=4, padding="same",
          padding_mode="replicate"), (1, 2, 6, 5)),
])
def test_conv2d_parity(kwargs, shape):
    needs_torch()
    check_parity(nn.Conv2d(**kwargs), tnn.Conv2d(**kwargs), randn(*shape))


def test_conv2d_non_contiguous_input():
    needs_torch()
    x = randn(2, 5, 6, 3).transpose(0, 3, 1, 2)  # an (N, C, H, W) view of NHWC memory
    check_parity(nn.Conv2d(3, 4, 3, stride=2, padding=1), tnn.Conv2d(3, 4, 3, stride=2,
                                                                      padding=1), x)


@pytest.mark.parametrize("kwargs,shape", [
    (dict(in_channels=3, out_channels=5, kernel_size=3), (4, 3, 11)),
    (dict(in_channels=4, out_channels=2, kernel_size=5, stride=2, padding=2, dilation=1,
          groups=2, bias=False), (2, 4, 9)),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding="same", dilation=3), (1, 2, 10)),
    (dict(in_channels=2, out_channels=4, kernel_size=2, padding=1, padding_mode="reflect"),
     (2, 2, 7)),
    (dict(in_channels=2, out_channels=3, kernel_size=3), (2, 8)),
])
def test_conv1d_parity(kwargs, shape):
    needs_torch()
    check_parity(nn.Conv1d(**kwargs), tnn.Conv1d(**kwargs), randn(*shape))


@pytest.mark.parametrize("kwargs,shape", [
    (dict(in_channels=3, out_channels=4, kernel_size=3), (2, 3, 5, 4)),
    (dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1,
          groups=2), (2, 4, 5, 5)),
    (dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(2, 1), dilation=(1, 2),
          bias=False), (1, 2, 4, 3)),
    (dict(in_channels=2, out_channels=2, kernel_size=4, stride=2, padding=1), (2, 3, 3)),
])
def test_conv_transpose2d_parity(kwargs, shape):
    needs_torch()
    check_parity(nn.ConvTranspose2d(**kwargs), tnn.ConvTranspose2d(**kwargs), randn(*shape))


def test_conv_transpose2d_output_size():
    needs_torch()
    layer, tlayer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), \
        tnn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    out = check_parity(layer, tlayer, randn(2, 3, 7, 7), output_size=(14, 13))
    assert out.shape == (2, 2, 14, 13)
    with pytest.raises(ValueError, match=r"valid sizes range from \(13, 13\) to \(14, 14\)"):
        layer(dw.zeros(2, 3, 7, 7), output_size=(15, 14))


def test_conv_gradcheck_float64():
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, groups=1).double()
    x = dw.tensor(randn(2, 2, 5, 4).astype(np.float64), requires_grad=True)
    assert gradcheck(lambda x, w, b: conv(x), [x, conv.weight, conv.bias])
    up = nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=1).double()
    x = dw.tensor(randn(1, 2, 3, 2).astype(np.float64), requires_grad=True)
    assert gradcheck(lambda x, w, b: up(x), [x, up.weight, up.bias])


@pytest.mark.parametrize("make,tmake", [
    (lambda: nn.Conv2d(64, 32, 3), lambda: tnn.Conv2d(64, 32, 3)),  # weight (out, in, kH, kW)
    (lambda: nn.Conv1d(30, 50, 5, groups=5), lambda: tnn.Conv1d(30, 50, 5, groups=5)),
    (lambda: nn.ConvTranspose2d(40, 60, 3), lambda: tnn.ConvTranspose2d(40, 60, 3)),
])
def test_conv_default_init_is_pytorchs(make, tmake):
    layer = make()
    fan_in = layer.weight.shape[1] * math.prod(layer.weight.shape[2:])
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) and the bias share this bound
    for a in (layer.weight.data, layer.bias.data):
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound
    np.testing.assert_allclose(layer.weight.data.std(), bound / math.sqrt(3), rtol=0.05)
    assert layer.weight.dtype == np.float32
    needs_torch()
    tlayer = tmake()
    assert layer.weight.shape == tuple(tlayer.weight.shape)
    assert np.abs(tlayer.weight.detach().numpy()).max() <= bound
    assert np.abs(tlayer.bias.detach().numpy()).max() <= bound


def test_conv_arguments_are_checked():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)


# ---- pooling -------------------------------------------------------------------------------

@pytest.mark.parametrize("make,shape", [
    (lambda m: m.MaxPool2d(2), (2, 3, 8, 6)),
    (lambda m: m.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 3, 8, 7)),
    (lambda m: m.MaxPool2d((2, 3), stride=1, dilation=(2, 1)), (1, 2, 7, 7)),
    (lambda m: m.MaxPool2d(4), (2, 2, 9, 8)),
    (lambda m: m.MaxPool1d(3, stride=2, padding=1), (2, 3, 9)),
    (lambda m: m.AvgPool2d(2), (2, 3, 8, 6)),
    (lambda m: m.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 7, 8)),
    (lambda m: m.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, divisor_override=4),
     (1, 3, 6, 6)),
    (lambda m: m.AvgPool1d(4, stride=3, padding=2), (2, 3, 10)),
    (lambda m: m.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5)),
    (lambda m: m.AdaptiveAvgPool2d(1), (2, 3, 6, 6)),
    (lambda m: m.AdaptiveMaxPool2d((3, 4)), (2, 3, 7, 9)),
    (lambda m: m.AdaptiveMaxPool2d(2), (3, 8, 6)),
])
def test_pool_parity(make, shape):
    needs_torch()
    out = check_parity(make(nn), make(tnn), randn(*shape), copy=False)
    assert not list(make(nn).parameters())
    assert out.shape == tuple(make(tnn)(torch.zeros(shape)).shape)


def test_pool_return_indices():
    needs_torch()
    x = randn(2, 3, 6, 6)
    out, idx = nn.MaxPool2d(2, return_indices=True)(dw.tensor(x))
    tout, tidx = tnn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    out, idx = nn.AdaptiveMaxPool2d(4, return_indices=True)(dw.tensor(x))
    tout, tidx = tnn.AdaptiveMaxPool2d(4, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    np.testing.assert_allclose(out.data, tout.numpy())


# ---- normalisation -------------------------------------------------------------------------

@pytest.mark.parametrize("cls,shape,kwargs", [
    ("BatchNorm2d", (4, 3, 5, 6), {}),
    ("BatchNorm2d", (2, 3, 4, 4), dict(momentum=None)),
    ("BatchNorm2d", (3, 2, 3, 3), dict(affine=False, momentum=0.3, eps=1e-3)),
    ("BatchNorm2d", (3, 2, 3, 3), dict(track_running_stats=False)),
    ("BatchNorm2d", (3, 2, 3, 3), dict(bias=False)),
    ("BatchNorm1d", (8, 5), {}),
    ("BatchNorm1d", (4, 5, 7), dict(momentum=None)),
])
def test_batchnorm_train_and_eval_parity(cls, shape, kwargs):
    """Three training steps (batch statistics, running averages updated), then eval (running
    statistics): outputs, gradients and buffers match PyTorch at every step."""
    needs_torch()
    layer, tlayer = getattr(nn, cls)(shape[1], **kwargs), getattr(tnn, cls)(shape[1], **kwargs)
    if layer.weight is not None:  # non-trivial affine parameters
        with torch.no_grad():
            tlayer.weight.uniform_(0.5, 1.5)
            if tlayer.bias is not None:
                tlayer.bias.uniform_(-0.5, 0.5)
    copy_weights(layer, tlayer)
    for step in range(3):
        x = randn(*shape, seed=step) * (step + 1) + step
        check_parity(layer, tlayer, x, copy=False)
        for p in (*layer.parameters(), *tlayer.parameters()):
            p.grad = None
    tstate = tlayer.state_dict()
    assert list(layer.state_dict()) == list(tstate)
    for k, v in layer.state_dict().items():
        np.testing.assert_allclose(v, tstate[k].numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
        assert v.dtype == tstate[k].numpy().dtype, k
    layer.eval(), tlayer.eval()
    check_parity(layer, tlayer, randn(*shape, seed=7), copy=False)
    if kwargs.get("track_running_stats", True):
        assert int(layer.num_batches_tracked.item()) == 3


def test_batchnorm_buffers_and_state_dict_keys():
    bn = nn.BatchNorm2d(4)
    assert list(bn.state_dict()) == [  # PyTorch's keys
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    np.testing.assert_array_equal(bn.weight.data, 1)
    np.testing.assert_array_equal(bn.bias.data, 0)
    np.testing.assert_array_equal(bn.running_var.data, 1)
    bn(dw.randn(2, 4, 3, 3))
    with dw.no_grad():  # running statistics update in training mode even without grad
        bn(dw.randn(2, 4, 3, 3))
    assert bn.num_batches_tracked.item() == 2 and np.abs(bn.running_mean.data).max() > 0
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0 and not bn.running_mean.data.any()
    assert nn.BatchNorm2d(3, track_running_stats=False).state_dict().keys() == {"weight",
                                                                                "bias"}
    needs_torch()
    assert list(tnn.BatchNorm2d(4).state_dict()) == list(nn.BatchNorm2d(4).state_dict())


@pytest.mark.parametrize("ns,shape,kwargs", [
    (6, (2, 3, 6), {}),
    ((4, 5), (3, 4, 5), {}),
    ((3, 2, 2), (2, 3, 2, 2), dict(elementwise_affine=False)),
    (5, (4, 5), dict(bias=False, eps=1e-3)),
])
def test_layernorm_parity(ns, shape, kwargs):
    needs_torch()
    layer, tlayer = nn.LayerNorm(ns, **kwargs), tnn.LayerNorm(ns, **kwargs)
    if tlayer.weight is not None:
        with torch.no_grad():
            tlayer.weight.uniform_(0.5, 1.5)
    check_parity(layer, tlayer, randn(*shape) * 3 + 1)


@pytest.mark.parametrize("g,c,shape,kwargs", [
    (2, 6, (3, 6, 4, 5), {}),
    (3, 3, (1, 3, 5), dict(affine=False)),
    (1, 4, (2, 4), dict(eps=1e-3)),
])
def test_groupnorm_parity(g, c, shape, kwargs):
    needs_torch()
    layer, tlayer = nn.GroupNorm(g, c, **kwargs), tnn.GroupNorm(g, c, **kwargs)
    if tlayer.weight is not None:
        with torch.no_grad():
            tlayer.weight.uniform_(0.5, 1.5)
            tlayer.bias.uniform_(-1, 1)
    check_parity(layer, tlayer, randn(*shape) * 2 - 1)


def test_norm_gradcheck_float64():
    bn = nn.BatchNorm2d(3).double()
    bn.weight.data[...] = [0.5, 1.0, 2.0]
    x = dw.tensor(randn(2, 3, 2, 3).astype(np.float64), requires_grad=True)
    assert gradcheck(lambda x, w, b: bn(x), [x, bn.weight, bn.bias])
    gn = nn.GroupNorm(2, 4).double()
    x = dw.tensor(randn(2, 4, 3).astype(np.float64), requires_grad=True)
    assert gradcheck(lambda x, w, b: gn(x), [x, gn.weight, gn.bias])


# ---- upsampling and Dropout2d --------------------------------------------------------------

@pytest.mark.parametrize("kwargs,shape", [
    (dict(scale_factor=2), (2, 3, 4, 5)),
    (dict(size=(7, 3)), (2, 3, 4, 5)),
    (dict(scale_factor=1.5, mode="bilinear"), (1, 2, 4, 6)),
    (dict(size=9, mode="bilinear", align_corners=True), (1, 2, 4, 6)),
    (dict(scale_factor=3, mode="linear"), (2, 2, 5)),
])
def test_upsample_parity(kwargs, shape):
    needs_torch()
    check_parity(nn.Upsample(**kwargs), tnn.Upsample(**kwargs), randn(*shape), copy=False)


def test_dropout2d_drops_whole_channels():
    drop = nn.Dropout2d(0.4)
    x = dw.ones(200, 50, 3, 3, requires_grad=True)
    y = drop(x)
    planes = y.data.reshape(200, 50, 9)
    assert (planes.min(-1) == planes.max(-1)).all()  # each plane is all 0 or all 1/(1-p)
    np.testing.assert_allclose(np.unique(planes), [0.0, 1 / 0.6], rtol=1e-6)
    assert abs((planes[:, :, 0] == 0).mean() - 0.4) < 0.02
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, y.data)  # d(x * mask)/dx = mask
    drop.eval()
    assert drop(x) is x
    assert repr(drop) == "Dropout2d(p=0.4, inplace=False)"
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)
    needs_torch()
    assert repr(drop) == repr(tnn.Dropout2d(0.4))


# ---- repr, errors, a whole CNN -------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(1, 32, 3, padding=1),
    lambda m: m.Conv2d(4, 8, (3, 5), stride=2, dilation=2, groups=2, bias=False,
                       padding_mode="reflect", padding=2),
    lambda m: m.Conv1d(2, 3, 3, bias=False, padding="same"),
    lambda m: m.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
    lambda m: m.MaxPool2d(2),
    lambda m: m.MaxPool1d(3, stride=1, padding=1, ceil_mode=True),
    lambda m: m.AvgPool2d(3, 2, 1),
    lambda m: m.AvgPool1d(2),
    lambda m: m.AdaptiveAvgPool2d((1, None)),
    lambda m: m.AdaptiveMaxPool2d(3),
    lambda m: m.BatchNorm2d(3, momentum=None),
    lambda m: m.BatchNorm1d(3, affine=False, track_running_stats=False),
    lambda m: m.LayerNorm((4, 5), elementwise_affine=False),
    lambda m: m.GroupNorm(2, 4, bias=False),
    lambda m: m.Upsample(scale_factor=2),
    lambda m: m.Upsample(size=(3, 4), mode="bilinear"),
])
def test_repr_matches_pytorch(make):
    needs_torch()
    assert repr(make(nn)) == repr(make(tnn))


class _Net(nn.Module):
    """conv1 makes 16 channels, conv2 expects 32: a typical wiring mistake."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)

    def forward(self, x):
        return self.conv2(nn.functional.max_pool2d(self.conv1(x), 2))


def test_layer_path_in_shape_errors():
    model = _Net()
    with pytest.raises(ShapeError) as e:
        model(dw.zeros(8, 1, 28, 28))
    assert str(e.value) == ("model.conv2 (Conv2d 32->64): expected input with 32 channels, got "
                            "(8, 16, 14, 14)")
    with pytest.raises(ShapeError, match=r"^model.conv1 \(Conv2d 1->16\): expected input "
                       r"\(N, 1, H, W\) or \(1, H, W\), got \(8, 784\)$"):
        model(dw.zeros(8, 784))
    seq = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(4))
    with pytest.raises(ShapeError, match=r"^model.1 \(BatchNorm2d 4\): expected input with 4 "
                       r"channels, got \(2, 8, 3, 3\)$"):
        seq(dw.zeros(2, 3, 5, 5))
    with pytest.raises(ShapeError, match=r"^model.0 \(Conv1d 2->3\): expected input with 2 "
                       r"channels"):
        nn.Sequential(nn.Conv1d(2, 3, 3))(dw.zeros(4, 3, 10))
    with pytest.raises(ShapeError, match=r"^model.0 \(ConvTranspose2d 1->3\): expected input "
                       r"with 1 channel, got"):
        nn.Sequential(nn.ConvTranspose2d(1, 3, 3))(dw.zeros(4, 3, 10, 10))
    with pytest.raises(ShapeError, match=r"^model \(BatchNorm1d 5\): expected input \(N, C\) or "
                       r"\(N, C, L\), got \(2, 5, 3, 3\)$"):
        nn.BatchNorm1d(5)(dw.zeros(2, 5, 3, 3))
    with pytest.raises(ShapeError, match=r"^model.0 \(MaxPool2d\): max_pool2d: expected input"):
        nn.Sequential(nn.MaxPool2d(2))(dw.zeros(8, 784))


def _every_layer(m):
    """A small CNN with every layer type of this family, for either library (m: nn or tnn);
    no conv bias right before a batch norm (its gradient is 0: only rounding noise to compare)."""
    return dict(
        conv1=m.Conv2d(2, 8, 3, padding=1, bias=False), bn1=m.BatchNorm2d(8),
        pool1=m.MaxPool2d(2),
        conv2=m.Conv2d(8, 8, 3, padding="same", groups=2, padding_mode="reflect", bias=False),
        gn=m.GroupNorm(4, 8), drop2d=m.Dropout2d(0.3), up=m.ConvTranspose2d(8, 6, 2, stride=2),
        avg=m.AvgPool2d(3, stride=1, padding=1), upsample=m.Upsample(scale_factor=2,
                                                                     mode="bilinear"),
        conv1d=m.Conv1d(6, 4, 3, stride=2, bias=False), pool1d=m.MaxPool1d(2),
        bn1d=m.BatchNorm1d(4, momentum=None), ln=m.LayerNorm(4),
        amax=m.AdaptiveMaxPool2d((2, 3)), aavg=m.AdaptiveAvgPool2d(1), fc=m.Linear(4 * 6 + 4, 5),
        relu=m.ReLU())


def _every_forward(self, x, cat):
    h = self.pool1(self.relu(self.bn1(self.conv1(x))))      # (N, 8, 4, 4)
    h = self.drop2d(self.relu(self.gn(self.conv2(h))))      # (N, 8, 4, 4)
    h = self.avg(self.relu(self.up(h)))                     # (N, 6, 8, 8)
    h = self.upsample(h)                                    # (N, 6, 16, 16)
    s = h.reshape(h.shape[0], 6, 256)                       # as a sequence
    s = self.bn1d(self.pool1d(self.conv1d(s)))              # (N, 4, 63)
    s = self.ln(s.transpose(1, 2)).transpose(1, 2)          # (N, 4, 63)
    a = self.amax(s.reshape(s.shape[0], 4, 7, 9))           # (N, 4, 2, 3)
    b = self.aavg(h[:, :4])                                 # (N, 4, 1, 1)
    return self.fc(cat([a.flatten(1), b.flatten(1)], 1))


class _Every(nn.Module):
    def __init__(self):
        super().__init__()
        for name, layer in _every_layer(nn).items():
            setattr(self, name, layer)

    def forward(self, x):
        return _every_forward(self, x, dw.cat)


def _torch_every():
    """_Every written in PyTorch (defined on call: torch may be absent)."""
    class _TorchEvery(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for name, layer in _every_layer(tnn).items():
                setattr(self, name, layer)

        def forward(self, x):
            return _every_forward(self, x, torch.cat)

    return _TorchEvery()


def test_small_cnn_with_every_layer_loads_a_pytorch_state_dict():
    """Converted with .numpy(), PyTorch's state dict loads and gives the same outputs and
    gradients in training mode (batch statistics, same running averages; Dropout2d off) and
    in eval mode; the deepwise state dict loads back into PyTorch."""
    needs_torch()
    model, tmodel = _Every(), _torch_every()
    model.drop2d.p = tmodel.drop2d.p = 0.0  # the random masks differ between libraries
    assert list(model.state_dict()) == list(tmodel.state_dict())
    for step in range(2):
        check_parity(model, tmodel, randn(3, 2, 8, 8, seed=step) + step, copy=step == 0,
                     rtol=2e-4, atol=2e-5)
        for p in (*model.parameters(), *tmodel.parameters()):
            p.grad = None
    for k, v in model.state_dict().items():  # running statistics evolved the same way
        np.testing.assert_allclose(v, tmodel.state_dict()[k].numpy(), rtol=1e-5, atol=1e-6)
    model.eval(), tmodel.eval()
    check_parity(model, tmodel, randn(2, 2, 8, 8, seed=5), copy=False, rtol=2e-4, atol=2e-5)
    fresh = _torch_every().eval()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = randn(2, 2, 8, 8, seed=6)
    np.testing.assert_allclose(model(dw.tensor(x)).data, fresh(torch.tensor(x)).detach().numpy(),
                               rtol=2e-4, atol=2e-5)


def test_cnn_learns_a_toy_task():
    """A conv-BN-ReLU-pool net learns to tell a vertical from a horizontal bar, anywhere in
    the image (loss bound: from ln 2 = 0.69 to < 0.05 in 40 Adam steps)."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (64, 1, 10, 10)).astype(np.float32)
    y = rng.integers(0, 2, 64)
    for i in range(64):
        r, c = rng.integers(0, 6, 2)
        if y[i]:
            x[i, 0, r:r + 5, c + 2] += 2
        else:
            x[i, 0, r + 2, c:c + 5] += 2
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(8, 8, 3), nn.ReLU(),
                          nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8, 2))
    opt = optim.Adam(model.parameters(), lr=0.02)
    xt, yt = dw.tensor(x), dw.tensor(y)
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, loss.item()
