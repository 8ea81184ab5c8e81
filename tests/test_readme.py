"""The README's Python examples run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README has no python examples"
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["history"].history["val_accuracy"][-1] > 0.9


def test_readme_commands_parse():
    """Every command line in the README's "Commands" block is one the CLI accepts (its options and
    choices included), so the list cannot drift from what `deepwise` does."""
    import shlex

    from deepwise.cli import build_parser

    text = README.read_text(encoding="utf-8")
    block = text[text.index("## Commands"):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    lines = [line for line in lines if line.startswith("deepwise ")]
    assert len(lines) >= 10
    parser = build_parser()
    for line in lines:
        args = parser.parse_args(shlex.split(line)[1:])
        assert callable(args.func), line
