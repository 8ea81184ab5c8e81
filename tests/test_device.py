"""The GPU backend: every converted op, the nn layers and training on a "cuda" device, equal to
the CPU.

Without a GPU the device is ``tests/fake_device.py`` (NumPy arrays in a type of their own, so a
stray ``np.`` call on device data or a host/device mix fails loudly); with CuPy and a GPU the
same tests run on the real device under the ``gpu`` marker (skipped with a message otherwise).

Adding an op is one line in ``OP_CASES``; ``PENDING`` lists the op families not yet converted
to the ``xp`` pattern (their ops are not on the list), and a test checks that every public op
of a converted family is either on the list or named in ``NOT_ON_DEVICE_LIST`` with the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fake_device
import numpy as np
import pytest

import deepwise as dw
from deepwise import backend, kernels, nn
from deepwise.autograd import DeviceError

NO_GPU = "no CUDA device with CuPy here: the real-GPU tests ran on the fake device only"


@pytest.fixture(params=["fake", pytest.param("cupy", marks=pytest.mark.gpu)], scope="module")
def device(request: Any) -> Any:
    """The "cuda" backend under test: the fake device, or real CuPy (marker gpu).

    On the fake device the CPU side runs the ops' NumPy path too (deepwise.kernels off): the
    device arrays always take it, so the two sides are the same code and agree to rounding.
    The compiled kernels are compared with the NumPy path in their own tests."""
    if request.param == "fake":
        prev = fake_device.register()
        with kernels.use_numba(False):
            yield "fake"
        fake_device.restore(prev)
        return
    prev = backend.use_device_module(None)  # the real probe, not a registered module
    if backend._cupy() is None:
        fake_device.restore(prev)
        pytest.skip(NO_GPU)
    backend.device_module("test")
    yield "cupy"
    backend.use_device_module(None)
    fake_device.restore(prev)


def _tol(dtype: Any, device: str) -> dict:
    if device == "fake":  # the same NumPy code underneath: equal to rounding
        return {"rtol": 1e-6, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-12, "atol": 0}
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-11}


# ---- inputs -----------------------------------------------------------------------------------


@dataclass
class F:
    """A float input of this shape that requires grad (``low``/``high``: its range)."""

    shape: tuple
    low: float = -1.0
    high: float = 1.0
    grad: bool = True


def P(*shape: int) -> F:  # noqa: N802 - positive floats (log, sqrt ...)
    return F(shape, 0.5, 2.0)


def G(*shape: int) -> F:  # noqa: N802 - a float input that requires grad
    return F(shape)


def K(*shape: int, low: float = 0.05, high: float = 0.95) -> F:  # noqa: N802 - a float constant
    return F(shape, low, high, grad=False)


@dataclass
class C:
    """A constant array (indices, masks, labels): a tensor that does not require grad."""

    value: Any


def _make(spec: Any, dtype: Any, on_device: bool, rng: np.random.Generator) -> Any:
    if isinstance(spec, F):
        t = dw.tensor(rng.uniform(spec.low, spec.high, spec.shape).astype(dtype))
    elif isinstance(spec, C):
        t = dw.tensor(np.asarray(spec.value))
    else:
        return spec
    if on_device:
        t = t.to("cuda")
    return t.requires_grad_(isinstance(spec, F) and spec.grad)


def _host(x: Any) -> Any:
    return backend.to_numpy(x.data) if isinstance(x, dw.Tensor) else x


def run(fn: Callable, specs: list, dtype: Any, on_device: bool) -> tuple[list, list]:
    """Outputs and input gradients (host arrays) of ``fn`` on the CPU or on the device."""
    inputs = [_make(s, dtype, on_device, np.random.default_rng(i)) for i, s in enumerate(specs)]
    dw.manual_seed(0)  # random ops (dropout) draw the same numbers on both devices
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    rng = np.random.default_rng(99)
    loss = None
    for o in outs:
        if isinstance(o, dw.Tensor):
            assert o.device == ("cuda" if on_device else "cpu"), f"output on {o.device}"
        if isinstance(o, dw.Tensor) and o.requires_grad:
            w = dw.tensor(rng.standard_normal(o.shape).astype(o.dtype))
            term = (o * (w.to("cuda") if on_device else w)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = []
    for t in inputs if loss is not None else []:
        if isinstance(t, dw.Tensor) and t.requires_grad:
            assert t.grad is not None, "an input that requires grad got no gradient"
            assert t.grad.device == t.device, f"gradient on {t.grad.device}, input on {t.device}"
            grads.append(_host(t.grad))
    return [_host(o) for o in outs], grads


def assert_same(fn: Callable, specs: list, dtype: Any, device: str, loose: float = 1) -> None:
    """fn on the device equals fn on the CPU: outputs (dtype, shape, values) and gradients.
    ``loose`` widens the tolerance where the device takes another route (a cumulative sum for
    ``add.reduceat``)."""
    cpu_out, cpu_grads = run(fn, specs, dtype, False)
    dev_out, dev_grads = run(fn, specs, dtype, True)
    tol = {k: v * loose for k, v in _tol(dtype, device).items()}
    assert len(cpu_out) == len(dev_out)
    for k, (a, b) in enumerate(zip(cpu_out, dev_out)):
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f"output #{k}"
            np.testing.assert_allclose(b, a, err_msg=f"output #{k}", **tol)
        else:
            assert a == b, f"output #{k}"
    for k, (a, b) in enumerate(zip(cpu_grads, dev_grads)):
        np.testing.assert_allclose(b, a, err_msg=f"gradient #{k}", **tol)


# ---- the ops ----------------------------------------------------------------------------------

IDX = C(np.array([2, 0, 2, 1]))
LABELS = C(np.array([1, 0, 3, 3, 2]))
F_ = dw.nn.functional

# name -> (fn, inputs[, loose]): fn(*inputs) on the device must equal it on the CPU
OP_CASES: dict[str, tuple] = {
    # arith
    "add": (dw.add, [G(3, 4), G(4)]),
    "sub": (dw.sub, [G(3, 1), G(1, 4)]),
    "mul": (dw.mul, [G(2, 3), G(2, 3)]),
    "div": (dw.div, [G(2, 3), P(3)]),
    "pow": (dw.pow, [P(2, 3), G(2, 3)]),
    "pow_scalar": (lambda a: a ** 3, [G(2, 3)]),
    "neg": (dw.neg, [G(5)]),
    "abs": (dw.abs, [G(2, 5)]),
    "exp": (dw.exp, [G(2, 3)]),
    "log": (dw.log, [P(2, 3)]),
    "log1p": (dw.log1p, [P(4)]),
    "sqrt": (dw.sqrt, [P(3, 2)]),
    "rsqrt": (dw.rsqrt, [P(3, 2)]),
    "sin": (dw.sin, [G(4)]),
    "cos": (dw.cos, [G(4)]),
    "square": (dw.square, [G(4)]),
    "reciprocal": (dw.reciprocal, [P(4)]),
    "clamp": (lambda x: dw.clamp(x, -0.5, 0.5), [G(3, 4)]),
    "maximum": (dw.maximum, [G(3, 4), G(4)]),
    "minimum": (dw.minimum, [G(3, 4), G(3, 1)]),
    "where": (dw.where, [C(np.array([True, False, True])), G(2, 3), G(3)]),
    "masked_fill": (lambda x, m: dw.masked_fill(x, m, -1.0), [G(2, 3), C(np.array([1, 0, 1]) > 0)]),
    "cast": (lambda x: dw.ops.arith.cast(x, np.float64 if x.dtype == np.float32 else np.float32)
             .sum(), [G(3)]),
    "clone": (dw.clone, [G(2, 2)]),
    "compare": (lambda a, b: [dw.eq(a, b), dw.ne(a, b), dw.lt(a, b), dw.le(a, b), dw.gt(a, b),
                              dw.ge(a, 0.1)], [G(6), G(6)]),
    "logic": (lambda m, n: [dw.logical_not(m), dw.logical_and(m, n), dw.logical_or(m, n),
                            dw.any(m), dw.all(n)], [C(np.arange(6) > 2), C(np.arange(6) < 4)]),
    "float_tests": (lambda x: [dw.isnan(x), dw.isinf(x), dw.isfinite(x), dw.sign(x),
                               dw.floor(x), dw.ceil(x), dw.round(x)], [G(7)]),
    "rounding": (lambda a, b: [dw.floor_divide(a, b), dw.remainder(a, b), dw.fmod(a, b)],
                 [G(5), P(5)]),
    # reduce
    "sum": (lambda x: [x.sum(), x.sum(1), x.sum((0, 2), keepdim=True)], [G(2, 3, 4)]),
    "mean": (lambda x: [x.mean(), x.mean(-1)], [G(2, 3, 4)]),
    "var_std": (lambda x: [x.var(1), x.std(0, unbiased=False)], [G(4, 5)]),
    "max_min": (lambda x: [x.max(), x.max(1)[0], x.max(1)[1], x.min(0)[0], dw.amax(x, 1),
                           dw.amin(x, 0)], [G(4, 5)]),
    "argmax": (lambda x: [x.argmax(), x.argmax(1), x.argmin(0)], [G(4, 5)]),
    "logsumexp": (lambda x: dw.logsumexp(x, 1), [G(3, 4)]),
    "prod": (lambda x: [x.prod(), x.prod(1)], [P(3, 4)]),
    "norm": (lambda x: [dw.norm(x), dw.norm(x, dim=1), dw.norm(x, p=1, dim=0)], [G(3, 4)]),
    "cumsum": (lambda x: dw.cumsum(x, 1), [G(3, 4)]),
    "allclose_equal": (lambda a, b: [dw.allclose(a, a), dw.isclose(a, b), dw.equal(a, b)],
                       [G(4), G(4)]),
    "bincount": (lambda i: dw.bincount(i, minlength=5), [IDX]),
    # shape
    "reshape_view": (lambda x: [x.reshape(4, 3), x.view(-1), x.flatten(), x.unflatten(1, (2, 2))],
                     [G(3, 4)]),
    "squeeze": (lambda x: [x.squeeze(), x.squeeze(1), x.unsqueeze(0)], [G(3, 1, 4)]),
    "permute": (lambda x: [x.permute(2, 0, 1), x.transpose(0, 2), x.t() if x.ndim == 2 else x.T,
                           x.swapaxes(0, 1), x.movedim(0, 2)], [G(2, 3, 4)]),
    "expand": (lambda x: [x.expand(3, 4), dw.broadcast_to(x, (2, 3, 4)), x.repeat(2, 1)],
               [G(1, 4)]),
    "as_other": (lambda x, y: [dw.expand_as(x, y), dw.view_as(y, x.T), dw.reshape_as(y, x.T)],
                 [G(4, 1), G(4, 1)]),
    "cat_stack": (lambda a, b: [dw.cat([a, b], 0), dw.stack([a, a], 1)], [G(2, 3), G(1, 3)]),
    "split_chunk": (lambda x: [*dw.split(x, 2, 1), *x.chunk(2, 0), *x.unbind(0)], [G(4, 5)]),
    "pad": (lambda x: [dw.pad(x, (1, 2)), dw.pad(x, (1, 1, 2, 0), value=0.5)], [G(2, 3)]),
    "narrow_flip_roll": (lambda x: [x.narrow(1, 1, 2), x.flip(0), x.roll(1, 1)], [G(3, 4)]),
    # index
    "getitem": (lambda x, i: [x[1], x[:, 1:3], x[i], x[x > 0], x[..., None]], [G(3, 4), IDX]),
    "gather": (lambda x, i: dw.gather(x, 1, i), [G(3, 4), C(np.array([[0, 3], [1, 1], [2, 0]]))]),
    "index_select": (lambda x, i: dw.index_select(x, 0, i), [G(3, 4), IDX]),
    "tril_triu": (lambda x: [dw.tril(x), dw.triu(x, 1)], [G(4, 4)]),
    "masked_select": (lambda x: dw.masked_select(x, x > 0), [G(3, 4)]),
    "nonzero": (lambda x: dw.nonzero(x > 0), [G(3, 4)]),
    "scatter": (lambda x, s: [dw.scatter(x, 1, C_IDX2(x), s), dw.scatter_add(x, 1, C_IDX2(x), s),
                              dw.index_add(x, 0, C_IDX1(x), s)], [G(2, 4), G(2, 4)]),
    # linalg
    "matmul": (dw.matmul, [G(2, 3, 4), G(4, 5)]),
    "bmm": (dw.bmm, [G(2, 3, 4), G(2, 4, 2)]),
    "linear": (dw.linear, [G(5, 3), G(4, 3), G(4)]),
    "mm_mv_dot_outer": (lambda a, v: [dw.mm(a, a.T), dw.mv(a, v), dw.dot(v, v), dw.outer(v, v)],
                        [G(3, 4), G(4)]),
    "einsum": (lambda a, b: dw.einsum("bij,jk->bik", a, b), [G(2, 3, 4), G(4, 2)]),
    # activation
    "relu": (dw.relu, [G(3, 4)]),
    "leaky_relu_elu": (lambda x: [F_.leaky_relu(x, 0.1), F_.elu(x)], [G(3, 4)]),
    "gelu": (lambda x: [F_.gelu(x), F_.gelu(x, approximate="tanh")], [G(3, 4)]),
    "silu_sigmoid_tanh": (lambda x: [F_.silu(x), dw.sigmoid(x), dw.tanh(x)], [G(3, 4)]),
    "softplus": (lambda x: F_.softplus(x), [G(3, 4)]),
    "softmax": (lambda x: [dw.softmax(x, -1), dw.log_softmax(x, 0)], [G(3, 4)]),
    "dropout": (lambda x: F_.dropout(x, 0.5, training=True), [G(4, 5)]),
    "logsigmoid_hardtanh_relu6": (lambda x: [F_.logsigmoid(x), F_.hardtanh(x, -0.5, 0.5),
                                             F_.relu6(x * 4)], [G(3, 4)]),
    "prelu": (F_.prelu, [G(2, 3, 4), G(3)]),
    # loss
    "cross_entropy": (lambda x, t: [F_.cross_entropy(x, t), F_.cross_entropy(
        x, t, label_smoothing=0.1, reduction="sum")], [G(5, 4), LABELS]),
    "nll_loss": (lambda x, t: F_.nll_loss(dw.log_softmax(x, 1), t), [G(5, 4), LABELS]),
    "regression_losses": (lambda x, y: [F_.mse_loss(x, y), F_.l1_loss(x, y, reduction="sum"),
                                        F_.smooth_l1_loss(x, y), F_.huber_loss(x, y, delta=0.5)],
                          [G(3, 4), G(3, 4)]),
    "bce": (lambda p, t, z: [F_.binary_cross_entropy(p, t),
                             F_.binary_cross_entropy_with_logits(z, t)],
            [F((3, 4), 0.1, 0.9), K(3, 4), G(3, 4)]),
    "one_hot": (lambda t: F_.one_hot(t, 5), [LABELS]),
    "embedding": (lambda i, w: F_.embedding(i, w), [IDX, G(4, 3)]),
    "interpolate": (lambda x: [F_.interpolate(x, scale_factor=2), F_.interpolate(
        x, size=(5, 3), mode="bilinear", align_corners=False)], [G(1, 2, 3, 4)], 100),
    "attention": (lambda q, k, v: F_.scaled_dot_product_attention(q, k, v, is_causal=True),
                  [G(2, 3, 4), G(2, 3, 4), G(2, 3, 4)]),
    "distance": (lambda a, b, n: [F_.normalize(a), F_.cosine_similarity(a, b),
                                  F_.pairwise_distance(a, b), F_.triplet_margin_loss(a, b, n)],
                 [G(4, 3), G(4, 3), G(4, 3)]),
    "batch_hard_triplet": (lambda e, y: dw.ops.distance.batch_hard_triplet_loss(e, y),
                           [G(5, 3), C(np.array([0, 0, 1, 1, 1]))]),
    "additive_angular_margin": (lambda c, y: dw.ops.distance.additive_angular_margin(c, y),
                                [F((4, 3), -0.9, 0.9), C(np.array([0, 2, 1, 2]))]),
    "sort": (lambda x: [*dw.sort(x, 1), dw.argsort(x, 0), *dw.topk(x, 2)], [G(3, 4)]),
    "unique": (lambda i: dw.unique(i, return_inverse=True), [IDX]),
    "ctc_loss": (lambda lp, t: dw.ops.ctc.ctc_loss(dw.log_softmax(lp, 2), t, [5, 4], [2, 1]),
                 [G(5, 2, 3), C(np.array([[1, 2], [2, 0]]))]),
    "focal": (lambda x, t: dw.ops.focal.focal_heatmap_loss(dw.sigmoid(x), t),
              [G(1, 2, 3, 3), K(1, 2, 3, 3, low=0.0, high=1.0)]),
    "vae": (lambda x, t, m, s: [dw.ops.vae.kl_div(dw.log_softmax(x, 1), t, reduction="batchmean"),
                                dw.ops.vae.gaussian_kl(m, s)],
            [G(3, 4), K(3, 4), G(3, 2), G(3, 2)]),
    # conv
    "conv2d": (lambda x, w, b: [dw.conv2d(x, w, b, padding=1), dw.conv2d(x, w, None, stride=2)],
               [G(2, 4, 6, 5), G(3, 4, 3, 3), G(3)]),
    "conv2d_groups_dilation": (lambda x, w: dw.conv2d(x, w, groups=2, dilation=2, padding="same"),
                               [G(2, 4, 7, 7), G(6, 2, 3, 3)]),
    "conv1d": (lambda x, w: F_.conv1d(x, w, padding=1), [G(2, 3, 8), G(4, 3, 3)]),
    "conv_transpose2d": (lambda x, w, b: F_.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                             output_padding=1),
                         [G(2, 3, 4, 4), G(3, 2, 3, 3), G(2)]),
    # pool
    "max_pool2d": (lambda x: [F_.max_pool2d(x, 2), *F_.max_pool2d(x, 3, 1, 1, return_indices=True),
                              F_.max_pool2d(x, 3, 3)], [G(2, 3, 6, 6)]),
    "max_pool1d": (lambda x: F_.max_pool1d(x, 2, ceil_mode=True), [G(2, 3, 7)]),
    "avg_pool": (lambda x: [F_.avg_pool2d(x, 2), F_.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                            F_.avg_pool1d(x.flatten(2), 4)], [G(2, 3, 6, 6)]),
    "adaptive_pool": (lambda x: [F_.adaptive_avg_pool2d(x, (4, 3)), F_.adaptive_avg_pool2d(x, 1),
                                 *F_.adaptive_max_pool2d(x, (4, 3), return_indices=True),
                                 F_.adaptive_max_pool2d(x, 2)], [G(2, 3, 6, 5)]),
    # norm
    "batch_norm": (lambda x, w, b: [dw.batch_norm(x, None, None, w, b, training=True),
                                    dw.batch_norm(dw.conv2d(x, w.reshape(3, 1, 1, 1).expand(
                                        3, 3, 1, 1)), None, None, w, None, training=True)],
                   [G(4, 3, 2, 5), G(3), G(3)]),
    "batch_norm_eval_running": (lambda x, rm, rv: [
        dw.batch_norm(x, rm, rv, training=True), dw.batch_norm(x, rm, rv)],
        [G(5, 3), K(3), K(3, low=0.5, high=2.0)]),
    "layer_norm": (lambda x, w, b: dw.layer_norm(x, (4,), w, b), [G(2, 3, 4), G(4), G(4)]),
    "group_norm": (lambda x, w, b: dw.group_norm(x, 2, w, b), [G(2, 4, 3), G(4), G(4)]),
    "dropout2d": (lambda x: dw.dropout2d(x, 0.5), [G(2, 6, 3, 3)]),
    # rnn
    "cells": (lambda x, h, c, wi, wh, b: [
        dw.rnn_tanh_cell(x, h, wi[:4], wh[:4, :], b[:4], b[4:8]),
        dw.rnn_relu_cell(x, h, wi[:4], wh[:4, :], None, None),
        *dw.lstm_cell(x, (h, c), wi[:16], wh[:16, :], b[:16], b[16:]),
        dw.gru_cell(x, h, wi[:12], wh[:12, :], b[:12], b[12:24])],
        [G(2, 3), G(2, 4), G(2, 4), G(16, 3), G(16, 4), G(32)]),
    "sequences": (lambda x, h, wi, wh, b: [
        *dw.lstm(x, (h, h), wi, wh, b[:16], b[8:], lengths=dw.tensor([4, 2], device=x.device))[:1],
        *dw.lstm(x, None, wi, wh, None, b[:16], reverse=True)[1],
        dw.gru(x, h, wi[:12], wh[:12], b[:12], b[12:24], lengths=[3, 4])[0],
        dw.rnn_tanh(x, h, wi[:4], wh[:4], None, None)[0],
        dw.rnn_relu(x, None, wi[:4], wh[:4], b[:4], b[4:8], reverse=True)[0]],
        [G(4, 2, 3), G(2, 4), G(16, 3), G(16, 4), G(24)]),
}


def C_IDX2(x: dw.Tensor) -> dw.Tensor:  # noqa: N802 - an index tensor on x's device
    return dw.tensor([[0, 1, 1, 3], [2, 2, 0, 1]], device=x.device)


def C_IDX1(x: dw.Tensor) -> dw.Tensor:  # noqa: N802
    return dw.tensor([1, 1], device=x.device)


# families the lead converts while optimising them; their ops join OP_CASES when they are done
PENDING: tuple[str, ...] = ()
# public ops of converted families that are not on the list, and why
NOT_ON_DEVICE_LIST = {
    "ctc_greedy_decode": "decoding on the host (a Python loop over frames)",
    "ctc_beam_search": "decoding on the host (a Python loop over frames)",
    "edit_distance": "Python sequences, not tensors",
    "attention_bias": "a helper of scaled_dot_product_attention (covered by it)",
    "concat": "an alias of cat", "clip": "an alias of clamp", "upsample": "calls interpolate",
    "msort": "sort along dim 0 (covered by sort)", "fmod": "covered by 'rounding'",
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OP_CASES))
def test_op_on_device_equals_cpu(device: str, name: str, dtype: Any) -> None:
    assert_same(*OP_CASES[name][:2], dtype, device, *OP_CASES[name][2:])


def test_every_converted_op_is_on_the_list() -> None:
    import re

    from deepwise import ops

    cases_src = "\n".join(str(v) for v in OP_CASES)
    import inspect

    src = inspect.getsource(__import__(__name__))
    missing = []
    for fam in ops.FAMILIES:
        short = fam.__name__.rsplit(".", 1)[1]
        if short in PENDING:
            continue
        for name in getattr(fam, "__all__", []):
            if name in NOT_ON_DEVICE_LIST or name in cases_src:
                continue
            if not re.search(rf"[.\s(\[]{name}\(", src):
                missing.append(f"{short}.{name}")
    assert not missing, f"ops of converted families not tested on the device: {missing}"


# ---- layers -----------------------------------------------------------------------------------


def _layer_same(make: Callable[[], nn.Module], specs: list, dtype: Any, device: str,
                call: Callable | None = None) -> None:
    """A layer built twice with one seed, one copy moved to the device: outputs, input
    gradients and parameter gradients equal."""
    dw.manual_seed(3)
    cpu = make().to(dtype)
    dev = copy.deepcopy(cpu).to("cuda")
    assert all(p.device == "cuda" for p in dev.parameters())
    call = call or (lambda m, *xs: m(*xs))
    got = {}
    for name, m in (("cpu", cpu), ("dev", dev)):
        got[name] = run(lambda *xs, m=m: call(m, *xs), specs, dtype, name == "dev")
        got[name] += ([_host(p.grad) for p in m.parameters()],)
    tol = _tol(dtype, device)
    for part, (a_list, b_list) in zip(("output", "input grad", "param grad"),
                                      zip(got["cpu"], got["dev"])):
        assert len(a_list) == len(b_list)
        for k, (a, b) in enumerate(zip(a_list, b_list)):
            np.testing.assert_allclose(b, a, err_msg=f"{part} #{k}", **tol)


LAYER_CASES: dict[str, tuple] = {
    "Linear": (lambda: nn.Linear(4, 3), [G(5, 4)]),
    "Embedding": (lambda: nn.Embedding(6, 3, padding_idx=0), [C(np.array([[1, 0, 5], [2, 2, 4]]))]),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(8, 2, batch_first=True),
                           [G(2, 3, 8), G(2, 4, 8)],
                           lambda m, q, kv: m(q, kv, kv, key_padding_mask=dw.tensor(
                               [[False, False, True, False], [False] * 4], device=q.device))),
    "activations": (lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.GELU(), nn.Tanh(),
                                          nn.SiLU(), nn.LeakyReLU(0.2), nn.Softmax(-1)),
                    [G(3, 4)]),
    "Dropout": (lambda: nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.3)), [G(5, 4)]),
    "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(label_smoothing=0.1), [G(5, 4), LABELS]),
    "MSELoss": (lambda: nn.MSELoss(), [G(3, 2), G(3, 2)]),
    "BCEWithLogitsLoss": (lambda: nn.BCEWithLogitsLoss(), [G(3, 2), K(3, 2)]),
    "NLLLoss": (lambda: nn.NLLLoss(), [G(5, 4), LABELS],
                lambda m, x, t: m(dw.log_softmax(x, 1), t)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                                   batch_first=True),
                                [G(2, 5, 8)],
                                lambda m, x: m(x, src_mask=nn.Transformer
                                               .generate_square_subsequent_mask(5, x.device,
                                                                                x.dtype))),
    "TransformerDecoderLayer": (lambda: nn.TransformerDecoderLayer(8, 2, 16, dropout=0.1,
                                                                   batch_first=True),
                                [G(2, 4, 8), G(2, 3, 8)]),
    "Conv2d_BatchNorm2d_MaxPool2d": (lambda: nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 2, 3), nn.AdaptiveAvgPool2d(1)), [G(2, 3, 8, 8)]),
    "ConvTranspose2d_GroupNorm": (lambda: nn.Sequential(nn.ConvTranspose2d(3, 4, 2, stride=2),
                                                        nn.GroupNorm(2, 4)), [G(2, 3, 3, 3)]),
    "LSTM_GRU": (lambda: nn.ModuleList([nn.LSTM(3, 4, num_layers=2, bidirectional=True),
                                        nn.GRU(3, 5, batch_first=True)]), [G(5, 2, 3)],
                 lambda m, x: [m[0](x)[0], m[1](x)[0]]),
}




@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_on_device_equals_cpu(device: str, name: str, dtype: Any, request: Any) -> None:
    make, specs, *call = LAYER_CASES[name]
    _layer_same(make, specs, dtype, device, *call)


# ---- training ---------------------------------------------------------------------------------


# the optimizers trained on the device (one line each)
OPTIMIZERS: dict[str, Callable] = {
    "SGD": lambda ps: dw.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "Adam": lambda ps: dw.optim.Adam(ps, lr=0.01, amsgrad=True),
    "AdamW": lambda ps: dw.optim.AdamW(ps, lr=0.01),
    "RMSprop": lambda ps: dw.optim.RMSprop(ps, lr=0.01, momentum=0.5),
    "RMSprop_centered": lambda ps: dw.optim.RMSprop(ps, lr=0.01, centered=True),
    "Adagrad": lambda ps: dw.optim.Adagrad(ps, lr=0.1),
    "Adadelta": lambda ps: dw.optim.Adadelta(ps, lr=10.0),
    "Adamax": lambda ps: dw.optim.Adamax(ps, lr=0.02),
    "NAdam": lambda ps: dw.optim.NAdam(ps, lr=0.01),
    "RAdam": lambda ps: dw.optim.RAdam(ps, lr=0.05),
}


def _train(on_device: bool, steps: int = 5, opt: str = "manual") -> list[np.ndarray]:
    """A few SGD steps of a small MLP (with dropout) on a fixed batch; the final weights."""
    dw.manual_seed(7)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    rng = np.random.default_rng(0)
    x, y = dw.tensor(rng.standard_normal((12, 6)).astype(np.float32)), dw.tensor(
        rng.integers(0, 3, 12))
    if on_device:
        model.cuda()
        x, y = x.cuda(), y.cuda()
    sgd = OPTIMIZERS[opt](model.parameters()) if opt in OPTIMIZERS else None
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # runs on the device too
        nn.utils.clip_grad_value_(model.parameters(), 2.0)
        losses.append(loss.item())
        if sgd is not None:
            sgd.step()
        else:
            with dw.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
    assert losses[-1] < losses[0] - 0.05, f"no learning: {losses}"
    return [_host(p) for p in model.parameters()]


# optimizers whose update runs on the base class's scratch buffers (optim/optimizer.py, the
# lead's file, converts them): a strict xfail turns into a failure - a reminder to take the
# optimizer off this list - once they run on the device
PENDING_OPTIMIZERS: dict[str, str] = {}


@pytest.mark.parametrize("opt", ["manual", *OPTIMIZERS])
def test_sgd_steps_on_device_give_the_cpu_weights(device: str, opt: str,
                                                  request: Any) -> None:
    if opt in PENDING_OPTIMIZERS:
        request.applymarker(pytest.mark.xfail(reason=PENDING_OPTIMIZERS[opt], strict=True))
    cpu, dev = _train(False, opt=opt), _train(True, opt=opt)
    for a, b in zip(cpu, dev):
        np.testing.assert_allclose(b, a, **_tol(np.float32, device))


# ---- the rules: errors, moves, files ----------------------------------------------------------


def test_mixing_devices_names_both_devices_and_the_op(device: str) -> None:
    a, b = dw.randn(3).cuda(), dw.randn(3)
    with pytest.raises(DeviceError, match=r"Add: expected all tensors to be on the same device, "
                                          r"but found at least two devices, cuda:0 and cpu"):
        a + b
    with pytest.raises(RuntimeError, match="Linear"):  # DeviceError is a RuntimeError
        dw.linear(dw.randn(2, 3), dw.randn(4, 3).cuda())
    model = nn.Sequential(nn.Linear(3, 2)).cuda()
    with pytest.raises(DeviceError, match=r"model\.0 \(Linear 3->2\): .*cuda:0 and cpu"):
        model(dw.randn(4, 3))


def test_module_to_round_trip_keeps_parameters_buffers_and_identity(device: str) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    params = list(model.parameters())
    opt = dw.optim.SGD(model.parameters(), lr=0.1)
    model(dw.randn(5, 3)).sum().backward()  # gradients and running statistics to move
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    grads = [p.grad.data.copy() for p in params]
    assert model.to("cuda") is model
    assert [p for p in model.parameters()] == params and opt.param_groups[0]["params"] == params
    assert all(p.device == "cuda" and p.grad.device == "cuda" for p in model.parameters())
    assert all(b.device == "cuda" for b in model.buffers())  # running stats too
    assert isinstance(params[0], nn.Parameter) and params[0].requires_grad
    model.cpu()
    assert all(p.device == "cpu" for p in model.parameters())
    assert all(b.device == "cpu" for b in model.buffers())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.data, g)


def test_tensor_moves_are_recorded_and_host_reads_are_explicit(device: str) -> None:
    x = dw.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and y.is_cuda and y.device == dw.device("cuda:0")
    assert repr(y.device) == "device(type='cuda', index=0)" and str(y.device) == "cuda:0"
    (y * y).sum().backward()  # the gradient flows back to the host tensor
    assert x.grad.device == "cpu" and x.grad.tolist() == [[2.0, -4.0], [6.0, 8.0]]
    with pytest.raises(TypeError, match=r"can't convert cuda:0 device type tensor to numpy\. "
                                        r"Use Tensor\.cpu\(\)"):
        y.numpy()
    with pytest.raises(TypeError, match="can't convert cuda"):
        np.asarray(y)
    assert y.cpu().numpy().tolist() == [[1.0, -2.0], [3.0, 4.0]] and y.cpu().device == "cpu"
    assert y.sum().item() == 6.0 and y.tolist() == [[1.0, -2.0], [3.0, 4.0]]
    assert float(y[0, 0]) == 1.0 and bool(y[1, 1] > 0)
    assert "device='cuda:0'" in repr(y) and "[ 3.,  4.]" in repr(y)
    y = y.detach()
    y[0] = np.array([5.0, 6.0])  # a host value written into a device tensor (copied over)
    z = dw.zeros(2, 2, device="cuda")
    z[1] = dw.tensor([7.0, 8.0])
    z.copy_(y.cpu())  # copy_ takes a source on another device, as in PyTorch
    assert y.device == "cuda" and y.tolist()[0] == [5.0, 6.0] and z.tolist() == y.tolist()
    assert y.to("cuda") is y and x.to("cpu") is x
    assert y.to("cpu", dw.float64).dtype == dw.float64


def test_in_place_changes_of_saved_device_arrays_are_caught(device: str) -> None:
    w = dw.tensor([2.0, 3.0], device="cuda", requires_grad=True)
    x = dw.tensor([1.0, 1.0], device="cuda")
    y = (w * x).sum()  # Mul saves x
    x.add_(5)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_creation_functions_take_device(device: str) -> None:
    made = [dw.tensor([1, 2], device="cuda"), dw.zeros(2, 3, device="cuda"),
            dw.ones(2, device="cuda"), dw.empty(2, device="cuda"),
            dw.full((2,), 7.0, device="cuda"), dw.arange(4, device="cuda"),
            dw.linspace(0, 1, 5, device="cuda"), dw.eye(3, device="cuda"),
            dw.randn(2, 2, device="cuda"), dw.rand(3, device="cuda"),
            dw.randint(0, 5, (4,), device="cuda")]
    assert all(t.device == "cuda" for t in made), [t.device for t in made]
    x = made[1]
    likes = [dw.zeros_like(x), dw.ones_like(x), dw.empty_like(x), dw.full_like(x, 2.0),
             dw.randn_like(x), x.new_zeros(2), x.new_ones(3), x.new_tensor([1.0])]
    assert all(t.device == "cuda" for t in likes)
    assert dw.zeros_like(x, device="cpu").device == "cpu"
    dw.manual_seed(5)
    a = dw.randn(3, 4, device="cuda")
    dw.manual_seed(5)
    np.testing.assert_array_equal(a.cpu().numpy(), dw.randn(3, 4).numpy())  # one rule: host draws
    assert dw.cuda.is_available() and dw.cuda.device_count() >= 1
    assert dw.cuda.current_device() == 0 and isinstance(dw.cuda.get_device_name(), str)
    dw.cuda.synchronize()
    assert dw.ones(2).pin_memory().to("cuda", non_blocking=True).device == "cuda"
    layers = [nn.Linear(2, 3, device="cuda"), nn.Conv2d(1, 2, 3, device="cuda"),
              nn.BatchNorm1d(3, device="cuda"), nn.LayerNorm(3, device="cuda"),
              nn.MultiheadAttention(4, 2, device="cuda"), nn.PReLU(device="cuda")]
    for m in layers:
        assert all(t.device == "cuda" for t in (*m.parameters(), *m.buffers())), m


def test_save_and_load_from_a_device(device: str, tmp_path: Any) -> None:
    dw.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).cuda()
    path = tmp_path / "m.safetensors"
    dw.save(model.state_dict(), path)  # saved from host copies
    cpu_model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    cpu_model.load_state_dict(dw.load(path))
    x = dw.randn(5, 3)
    np.testing.assert_allclose(cpu_model(x).numpy(), model(x.cuda()).cpu().numpy(), rtol=1e-6)
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).cuda()
    other.load_state_dict(dw.load(path))  # loads onto the model's own device
    assert all(p.device == "cuda" for p in other.parameters())
    np.testing.assert_array_equal(other[0].weight.cpu().numpy(), cpu_model[0].weight.numpy())
    on_gpu = dw.load(path, map_location="cuda")  # state-dict values: device arrays
    assert on_gpu and all(backend.is_device_array(v) for v in on_gpu.values())
    other.load_state_dict(on_gpu)
    dw.save({"t": dw.arange(3.0, device="cuda")}, tmp_path / "t.dw")
    assert dw.load(tmp_path / "t.dw")["t"].tolist() == [0.0, 1.0, 2.0]


def test_host_batches_explain_and_the_fake_device_itself(device: str) -> None:
    ds = dw.utils.data.TensorDataset(dw.randn(6, 2), dw.arange(6))
    for xb, yb in dw.utils.data.DataLoader(ds, batch_size=4, pin_memory=True):
        assert xb.device == "cpu"  # batches stay on the host; the user moves them
        assert xb.cuda().device == "cuda" and yb.to("cuda").device == "cuda"
    from deepwise.explain._common import ArraySummary

    s = ArraySummary.of(dw.tensor([1.0, 3.0], device="cuda"))
    assert s.max == 3.0 and s.mean == 2.0
    if device == "fake":  # the fake is strict where CuPy is
        d = dw.ones(3, device="cuda").data
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
            np.exp(d)
        with pytest.raises(TypeError, match="host numpy.ndarray"):
            d + np.ones(3)
        with pytest.raises(AttributeError, match="scatter_add"):
            backend.get_array_module(d).add.at(d, [0], 1.0)


def test_cpu_only_paths_stay_numpy() -> None:
    prev = backend.use_device_module(None)
    try:
        assert backend.get_array_module(np.ones(2), 3.0, None) is np
        assert backend._device_type is None  # Function.apply's device check is skipped
        assert dw.randn(2).device == "cpu" and dw.device("cpu") == "cpu"
        assert repr(dw.device("cpu")) == "device(type='cpu')"
        with pytest.raises(ValueError, match="unknown device 'tpu'"):
            dw.device("tpu")
        if not dw.cuda.is_available():
            assert dw.cuda.device_count() == 0
            for call in (dw.cuda.current_device, dw.cuda.synchronize, dw.cuda.get_device_name):
                with pytest.raises(ValueError, match="no GPU backend"):
                    call()
    finally:
        fake_device.restore(prev)


def test_the_gpu_guide_runs_on_the_device(device: str, tmp_path: Any, monkeypatch: Any) -> None:
    """docs/14-gpu.md picks "cuda" when a backend is at hand: its code runs on the device."""
    import re
    from pathlib import Path

    guide = Path(__file__).resolve().parent.parent / "docs" / "14-gpu.md"
    blocks = re.findall(r"^```python[^\n]*\n(.*?)^```", guide.read_text(), re.S | re.M)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_14_gpu_on_device"}
    for k, src in enumerate(blocks, 1):
        exec(compile(src, f"14-gpu.md (block {k})", "exec"), namespace)  # noqa: S102
    assert namespace["device"] == "cuda" and namespace["loss"].device == "cuda"
