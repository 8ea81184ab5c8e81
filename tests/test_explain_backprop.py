"""explain.backprop (the narrated backward pass) and explain.worked_example (Mazur's network)."""

import numpy as np
import pytest

import deepwise as dw
from deepwise import explain, nn
from deepwise.explain.worked import MAZUR


def test_worked_example_every_derivative_equals_finite_differences():
    r = explain.worked_example(print_fn=None)
    assert len(r.derivatives) == 25
    for d in r.derivatives:
        # the chain rule written out, autograd and central differences: the same number
        assert d.finite_difference == pytest.approx(d.chain_rule, rel=1e-6, abs=1e-10), d.symbol
        assert d.autograd == pytest.approx(d.chain_rule, rel=1e-12, abs=1e-15), d.symbol
        assert d.agrees()
    assert "25 of 25 derivatives agree" in r.text


def test_worked_example_matches_mazurs_published_numbers():
    r = explain.worked_example(print_fn=None)
    assert r.values["out_h1"] == pytest.approx(0.593269992, abs=1e-9)
    assert r.values["out_o"] == pytest.approx(0.75136507, abs=1e-8)
    assert r.loss == pytest.approx(0.274811083, abs=1e-9)
    assert r.derivative("dE/dw5").chain_rule == pytest.approx(0.082167041, abs=1e-9)
    assert r.derivative("dE/dout_h1").chain_rule == pytest.approx(0.055399425, abs=1e-9)
    assert r.updated["w5"] == pytest.approx(0.35891648, abs=1e-8)
    assert r.loss_after < r.loss


def test_worked_example_other_numbers_still_agree_and_prints():
    lines = []
    r = explain.worked_example(print_fn=lines.append, values={"w1": -0.7, "target": 0.9},
                               narrate=True)
    assert all(d.agrees() for d in r.derivatives)
    assert lines and "Forward pass" in lines[0] and "finite diff." in lines[0]
    assert "[1] Mul" in lines[0] and "Sigmoid" in lines[0]  # the narration of the same graph
    with pytest.raises(KeyError, match="unknown names"):
        explain.worked_example(print_fn=None, values={"w9": 1.0})
    assert set(MAZUR) >= {"w1", "w6", "b2", "target"}


def test_backprop_narrates_each_node_with_derivative_and_gradients():
    model = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 1))
    x = dw.randn(5, 3)
    loss = ((model(x) - 1.0) ** 2).mean()
    steps = explain.backprop(loss, params=model, max_numbers=20)
    assert [s.op for s in steps] == ["Mean", "Pow", "Sub", "Linear", "Sigmoid", "Linear"]
    # reverse topological order: indices count down from the loss
    assert [s.index for s in steps] == [6, 5, 4, 3, 2, 1]
    lin = steps[3]
    assert lin.derivative.startswith("y = x @ W^T + b")
    assert lin.inputs == ["[2] Sigmoid", "2.weight", "2.bias"]
    assert lin.input_shapes == [(5, 4), (1, 4), (1,)]
    assert lin.output_shapes == [(5, 1)]
    sig = steps[4]
    assert sig.derivative == "y = 1 / (1 + e^-x);  dy/dx = y (1 - y)."
    # outgoing = incoming * local derivative, checked on the numbers the narration shows
    y = np.array(sig.output_values[0].values)
    g_in, g_out = np.array(sig.grad_inputs[0].values), np.array(sig.grad_outputs[0].values)
    assert g_in.shape == g_out.shape == (5, 4)
    np.testing.assert_allclose(g_in, g_out * y * (1 - y), rtol=1e-5, atol=1e-8)
    # leaves: named, in the model's order, equal to .grad
    names = [n for n, _ in steps.leaves]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for (n, summ), (pn, p) in zip(steps.leaves, model.named_parameters()):
        assert n == pn
        assert summ.norm == pytest.approx(float(np.linalg.norm(p.grad.data)), rel=1e-5)
    text = str(steps)
    assert "[3] Linear" in text and "local derivative: y = x @ W^T + b" in text
    assert "outgoing dL/d(input #1) -> 2.weight" in text
    assert "Gradients left on the leaves" in text and "0.bias" in text
    assert text.startswith("Backward, node by node (6 ops, in reverse topological order).")
    labels = [line.split(":")[0] for line in text.splitlines() if line.startswith("[")]
    assert labels == ["[6] Mean", "[5] Pow", "[4] Sub", "[3] Linear", "[2] Sigmoid", "[1] Linear"]


def test_backprop_small_tensors_show_numbers_that_match_the_chain_rule():
    w = dw.tensor([2.0, -1.0], requires_grad=True)
    x = dw.tensor([3.0, 0.5])
    steps = explain.backprop((w * x).sum(), params={"w": w})
    mul = steps[1]
    assert mul.op == "Mul" and mul.inputs == ["w", "data (no grad)"]
    assert mul.grad_outputs[0].values == [1.0, 1.0]
    assert mul.grad_inputs[0].values == [3.0, 0.5]  # d(w x)/dw = x
    assert mul.grad_inputs[1] is None               # x needs no gradient
    np.testing.assert_allclose(w.grad.data, [3.0, 0.5])
    assert str(steps) == SMALL_NARRATION


SMALL_NARRATION = """\
Backward, node by node (2 ops, in reverse topological order). At each: outgoing = incoming * \
local derivative (the chain rule).

[2] Sum: (2,) -> ()
    local derivative: y = sum_i x_i over dims;  dy/dx_i = 1 (the gradient is broadcast back \
over the dims).
    input  #0 = [1] Mul: (2,) [ 6. , -0.5]
    output #0: () 5.5
    incoming dL/d(output #0): () 1.
    outgoing dL/d(input #0) -> [1] Mul: (2,) [1., 1.]

[1] Mul: (2,), (2,) -> (2,)
    local derivative: y = a * b;  dy/da = b, dy/db = a.
    input  #0 = w: (2,) [ 2., -1.]
    input  #1 = data (no grad): (2,) [3. , 0.5]
    output #0: (2,) [ 6. , -0.5]
    incoming dL/d(output #0): (2,) [1., 1.]
    outgoing dL/d(input #0) -> w: (2,) [3. , 0.5]

Gradients left on the leaves (.grad):
    w: (2,) [3. , 0.5]
"""


def test_backprop_large_tensors_are_summarised():
    w = dw.randn(20, 30, requires_grad=True)
    steps = explain.backprop((w * w).sum(), max_numbers=8)
    g = steps[-1].grad_inputs[0]
    assert g.values is None and g.shape == (20, 30)
    # each of Mul's two inputs (both w) gets g * (the other) = w; the leaf sums them: 2 w
    assert g.norm == pytest.approx(float(np.linalg.norm(w.data)), rel=1e-5)
    assert g.mean == pytest.approx(float(w.data.mean()), rel=1e-4, abs=1e-6)
    assert "mean" in str(g) and "std" in str(g) and "norm" in str(g)
    name, leaf = steps.leaves[0]
    assert name == "leaf 0"
    assert leaf.norm == pytest.approx(float(np.linalg.norm(2 * w.data)), rel=1e-5)


def test_backprop_errors():
    with pytest.raises(RuntimeError, match="no grad_fn"):
        explain.backprop(dw.ones(2).sum())
    with pytest.raises(TypeError, match="expected a Tensor"):
        explain.backprop(1.0)
