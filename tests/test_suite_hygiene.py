"""The test suite itself: it runs on a machine without PyTorch (only the comparisons with PyTorch
skip), and its shared helper fails an op that loses its graph or has a wrong gradient."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import check_op, needs_torch, rand, torch

from deepwise.autograd import Function

TESTS = Path(__file__).resolve().parent


# ---- no test file depends on PyTorch at import time -------------------------------------------

def _module_level_nodes(tree: ast.Module):
    """Every node that runs when the module is imported (not inside a def or a lambda)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _torch_at_import(path: Path) -> list[str]:
    """The lines of ``path`` that need PyTorch at import: ``importorskip("torch...")``, and an
    ``import torch`` or a ``torch.`` attribute (``tnn = torch.nn``) neither in a ``try`` that
    catches ImportError nor under an ``if`` (or ``x if ... else y``) that tests a name holding
    torch (``if torch is not None:``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError",
                                                               "ModuleNotFoundError")
                for h in node.handlers):
            guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
        if isinstance(node, (ast.If, ast.IfExp)) and any(
                isinstance(n, ast.Name) and "torch" in n.id.lower() for n in ast.walk(node.test)):
            body = node.body if isinstance(node, ast.If) else [node.body]
            guarded.update(id(n) for stmt in body for n in ast.walk(stmt))
    found = []
    for node in sorted(_module_level_nodes(tree), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            arg = node.args[0] if node.args else None
            if name == "importorskip" and isinstance(arg, ast.Constant) and \
                    str(arg.value).split(".")[0] == "torch":
                found.append(f"{path.name}:{node.lineno}: importorskip({arg.value!r})")
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in guarded:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            if any(n.split(".")[0] == "torch" for n in names):
                found.append(f"{path.name}:{node.lineno}: import of torch outside try/except")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == "torch" and id(node) not in guarded:
            found.append(f"{path.name}:{node.lineno}: torch.{node.attr} at import")
    return found


def test_no_test_file_needs_torch_at_import():
    """Module-level ``importorskip("torch")`` hides every test of a file (Module, hooks, errors,
    learning) on a machine without PyTorch; only the comparisons may skip, inside each test."""
    files = sorted(TESTS.glob("*.py"))
    assert len(files) > 20, files  # the glob found the suite
    found = [line for f in files for line in _torch_at_import(f)]
    assert not found, "tests that need PyTorch at import:\n" + "\n".join(found)


def test_the_import_check_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text('import pytest\ntorch = pytest.importorskip("torch")\nimport torch.nn\n'
                   'tnn = torch.nn\n'
                   'def test_x():\n    pytest.importorskip("torch")\n    return torch.nn\n')
    assert [s.split(": ", 1)[1] for s in _torch_at_import(bad)] == [
        "importorskip('torch')", "import of torch outside try/except", "torch.nn at import"]
    good = tmp_path / "test_good.py"
    good.write_text("try:\n    import torch\nexcept ImportError:\n    torch = None\n"
                    "if torch is not None:\n    import torch.nn.functional as TF\n"
                    "tnn = torch.nn if torch is not None else None\n")
    assert _torch_at_import(good) == []


# the files that once skipped as a whole without PyTorch (the AST check above guards them all;
# collecting these six proves the point at ~2.5 s of CPU, where the whole suite takes ~6 s)
ONCE_SKIPPED = ["test_module.py", "test_nn_layers.py", "test_nn_conv.py", "test_rnn_layers.py",
                "test_init.py", "test_cnn_models.py"]


def test_suite_collects_without_torch(tmp_path):
    """With a ``torch`` that cannot be imported first on the path, the files that once skipped
    as a whole import, and none skips as a whole for want of it."""
    (tmp_path / "torch.py").write_text(
        "raise ModuleNotFoundError('torch hidden by test_suite_hygiene', name='torch')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    files = [str(TESTS / f) for f in ONCE_SKIPPED]
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *files],
                          capture_output=True, text=True, env=env, cwd=TESTS.parent, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "tests collected" in out, out[-3000:]
    assert "torch hidden" not in out, out[-3000:]  # a file imports torch unguarded
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert not skipped, "files skipped as a whole without torch:\n" + "\n".join(skipped)


# ---- check_op fails what it must --------------------------------------------------------------

class _Double(Function):
    """d(2x)/dx = 2 - but backward returns 3 (a wrong gradient, for the helper's test)."""

    def forward(self, x):
        return x * 2

    def backward(self, g):
        return g * 3


def test_check_op_passes_a_correct_op():
    check_op(lambda x: x * 2, [rand(3, 4)], (lambda t: t * 2) if torch else None)
    check_op(lambda x: x * 2, [rand(3, 4)], (lambda t: t * 2) if torch else None,
             check_grad=False)


@pytest.mark.parametrize("check_grad", [True, False])
def test_check_op_fails_an_op_that_loses_its_graph(check_grad):
    with pytest.raises(AssertionError, match="requires grad|requires_grad"):
        check_op(lambda x: x.detach() * 2, [rand(3, 4)], (lambda t: t * 2) if torch else None,
                 check_grad=check_grad)


def test_check_op_fails_when_no_gradient_is_compared():
    needs_torch()
    # both sides detached: the values agree, yet no gradient could be compared
    with pytest.raises(AssertionError, match="no output does|no gradient"):
        check_op(lambda x: x.detach() * 2, [rand(3)], lambda t: t.detach() * 2,
                 check_grad=False)


def test_check_op_fails_a_wrong_gradient():
    with pytest.raises(AssertionError, match="gradcheck"):
        check_op(_Double.apply, [rand(3, 4)], (lambda t: t * 2) if torch else None)
    needs_torch()
    with pytest.raises(AssertionError, match="gradient of input #0 differs from PyTorch"):
        check_op(_Double.apply, [rand(3, 4)], lambda t: t * 2, check_grad=False)


def test_check_op_refuses_to_check_nothing():
    needs_torch()
    with pytest.raises(AssertionError, match="checks no gradient"):
        check_op(lambda x: x * 2, [rand(3)], None, check_grad=False)


def test_needs_torch_skips_only_without_torch():
    if torch is None:
        with pytest.raises(pytest.skip.Exception):
            needs_torch()
    else:
        assert needs_torch() is None
