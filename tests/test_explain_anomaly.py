"""explain.detect_anomaly: the first op making NaN/Inf raises, naming the op, the module path
and the line of this file that created the op - in forward and in backward."""

import warnings

import numpy as np
import pytest

import deepwise as dw
from deepwise import autograd, explain, nn
from deepwise.explain import AnomalyError


def _line(marker: str) -> int:
    """The line of this file holding ``marker`` (where the planted bug is)."""
    with open(__file__, encoding="utf-8") as f:
        hits = [i for i, line in enumerate(f, 1) if "# " + marker in line]
    assert len(hits) == 1, marker
    return hits[0]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _check(err: AnomalyError, op: str, phase: str, marker: str) -> None:
    assert err.op == op and err.phase == phase
    assert err.filename == __file__
    assert err.lineno == _line(marker)
    msg = str(err)
    assert f"{__file__}:{err.lineno}" in msg
    assert marker in msg  # the offending source line is quoted
    head = f"the backward of {op} produced" if phase == "backward" else f"{op} produced"
    assert head in msg.splitlines()[0]


def test_forward_log_of_zero():
    x = dw.tensor([1.0, 0.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, explain.detect_anomaly():
        y = x * 2.0
        z = y.log()  # planted: log(0) forward
        z.sum()
    _check(info.value, "Log", "forward", "planted: log(0) forward")
    assert "-inf" in str(info.value)
    assert "y = ln(x);  dy/dx = 1 / x." in str(info.value)  # the op's derivative is quoted


def test_forward_zero_divided_by_zero():
    a = dw.tensor([0.0, 1.0], requires_grad=True)
    b = dw.tensor([0.0, 2.0])
    with pytest.raises(AnomalyError) as info, explain.detect_anomaly():
        (a / b).sum()  # planted: 0/0 forward
    _check(info.value, "Div", "forward", "planted: 0/0 forward")
    assert "NaN" in str(info.value)


def test_backward_log_of_zero():
    # d(a^b)/db = a^b ln(a): the forward 0^2 = 0 is fine, the backward needs ln(0)
    a = dw.tensor([0.0, 3.0], requires_grad=True)
    b = dw.tensor(2.0, requires_grad=True)
    with pytest.raises(AnomalyError) as info, explain.detect_anomaly():
        y = a ** b  # planted: log(0) backward
        loss = y.sum()
        assert np.isfinite(loss.item())
        loss.backward()
    _check(info.value, "Pow", "backward", "planted: log(0) backward")
    assert "input #1" in str(info.value)  # the exponent's gradient


def test_backward_zero_divided_by_zero():
    # sqrt'(x) = 1 / (2 sqrt x): at x = 0 with incoming gradient 0 the backward computes 0/0
    x = dw.tensor([0.0, 4.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, explain.detect_anomaly():
        r = x.sqrt()  # planted: 0/0 backward
        loss = (r * dw.tensor([0.0, 1.0])).sum()
        loss.backward()
    _check(info.value, "Sqrt", "backward", "planted: 0/0 backward")
    assert "NaN" in str(info.value) and "finite incoming gradient" in str(info.value)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.block = nn.Sequential(nn.Linear(4, 4), _LogLayer())

    def forward(self, x):
        return self.block(self.fc1(x))


class _LogLayer(nn.Module):
    def forward(self, x):
        return (x - x.detach().amax() - 1.0).log()  # planted: log of negatives in a module


def test_names_the_module_path():
    model = _Net()
    with pytest.raises(AnomalyError) as info, explain.detect_anomaly():
        model(dw.randn(2, 3))
    err = info.value
    assert err.op == "Log" and err.module_path == "model.block.1"
    assert "model.block.1 (_LogLayer)" in str(err)
    assert err.lineno == _line("planted: log of negatives in a module")


def test_finite_computation_passes_and_observers_are_removed():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with explain.detect_anomaly():
        loss = model(dw.randn(5, 3)).pow(2).mean()
        loss.backward()
    assert all(np.isfinite(p.grad.data).all() for p in model.parameters())
    assert not autograd._state.forward_observers and not autograd._state.backward_observers
    x = dw.tensor([0.0], requires_grad=True)
    assert np.isneginf(x.log().data).all()  # outside the context: no error


def test_only_the_first_op_is_blamed():
    x = dw.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, explain.detect_anomaly():
        y = x.log()  # planted: the first NaN/Inf
        (y * 3.0).exp()
    assert info.value.op == "Log" and info.value.lineno == _line("planted: the first NaN/Inf")


def test_check_nan_false_only_records():
    x = dw.tensor([0.0], requires_grad=True)
    with explain.detect_anomaly(check_nan=False):
        assert np.isneginf(x.log().data).all()
