"""The guides in docs/ run: every ```python block of a guide is executed, in order, in one
namespace (as a reader would paste them), in a temporary directory. A guide checks its own claims
with ``assert``; this test fails if any block raises, and checks that each guide shows something
(prints a walk-through or writes a picture)."""

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

import deepwise as dw

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDES = sorted(DOCS.glob("[0-9][0-9]-*.md"))
_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def test_there_are_guides():
    names = [p.name for p in GUIDES]
    for required in ("01-neuron-to-network.md", "02-backpropagation.md",
                     "03-gradient-descent.md", "04-overfitting.md"):
        assert required in names


@pytest.mark.parametrize("guide", GUIDES, ids=[p.stem for p in GUIDES])
def test_guide_runs(guide, tmp_path, monkeypatch):
    code = blocks(guide)
    assert code, f"{guide.name} has no ```python blocks"
    monkeypatch.chdir(tmp_path)
    dw.manual_seed(0)
    namespace = {"__name__": f"docs_{guide.stem.replace('-', '_')}"}
    out = io.StringIO()
    for k, src in enumerate(code, 1):
        try:
            compiled = compile(src, f"{guide.name} (block {k})", "exec")
            with contextlib.redirect_stdout(out):
                exec(compiled, namespace)  # noqa: S102 - running the guide is the test
        except ImportError as e:
            if "matplotlib" in str(e):
                pytest.skip(f"{guide.name} draws pictures: matplotlib is not installed")
            raise
    pictures = [f for f in os.listdir(tmp_path) if f.endswith((".png", ".svg", ".html"))]
    assert out.getvalue().strip() or pictures, f"{guide.name} shows nothing"
