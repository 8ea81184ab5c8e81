"""explain.graph: the computation graph as DOT, rendered to SVG/PNG by Graphviz."""

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

import deepwise as dw
from deepwise import explain, nn

NO_DOT = "Graphviz `dot` is not installed (apt-get install graphviz): SVG rendering not checked"


def _loss():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = dw.randn(5, 3), dw.tensor([0, 1, 1, 0, 1])
    return model, nn.functional.cross_entropy(model(x), y)


def test_dot_names_ops_shapes_and_parameters():
    model, loss = _loss()
    dot = explain.graph(loss, params=model)
    assert dot.startswith("digraph deepwise {") and dot.rstrip().endswith("}")
    for label in ("[1] Linear\\n(5, 4)", "[2] ReLU\\n(5, 4)", "[3] Linear\\n(5, 2)",
                  "0.weight\\n(4, 3)", "0.bias\\n(4,)", "2.weight\\n(2, 4)", "2.bias\\n(2,)",
                  "input\\n(5, 3)"):
        assert label in dot, label
    ops = re.findall(r'label="\[(\d+)\] (\w+)', dot)
    assert [name for _, name in ops] == ["Linear", "ReLU", "Linear", "CrossEntropy"]
    # edges run forward: each parameter feeds its Linear, the ReLU feeds the second Linear
    assert "op1 -> op2;" in dot and re.search(r"op2 -> op3 \[label=\"0\"\]", dot)
    assert len(re.findall(r"-> op1 ", dot)) == 3
    assert dot.count("->") == 9  # 3 + 1 + 3 + 1 (CrossEntropy <- Linear) + 1 (the target)


def test_show_values_adds_numbers_and_gradient_norms():
    w = dw.tensor([1.0, -2.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    dot = explain.graph(loss, params={"w": w}, show_values=True)
    assert "w\\n(2,)\\n[ 1., -2.]" in dot
    assert "|grad| = 4.47214" in dot  # ||2 w||
    assert "[2] Sum\\n()\\n5." in dot
    assert dot.count("w\\n(2,)") == 1  # a tensor used twice is one node, with two edges
    assert dot.count("t0 -> op1") == 2


def test_writes_dot_and_renders_svg(tmp_path):
    model, loss = _loss()
    out = tmp_path / "g.dot"
    dot = explain.graph(loss, out, params=model, png=True)
    assert out.read_text() == dot
    if shutil.which("dot") is None:
        pytest.skip(NO_DOT)
    svg = (tmp_path / "g.svg").read_text()
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    texts = "".join(root.itertext())
    for word in ("Linear", "ReLU", "CrossEntropy", "0.weight", "2.bias"):
        assert word in texts
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_svg_path_and_missing_graphviz_message(tmp_path, monkeypatch):
    _, loss = _loss()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.warns(RuntimeWarning, match="apt-get install graphviz"):
        explain.graph(loss, tmp_path / "x.svg")
    assert (tmp_path / "x.dot").exists() and not (tmp_path / "x.svg").exists()
    with pytest.raises(ValueError, match="should end in"):
        explain.graph(loss, tmp_path / "x.txt")
