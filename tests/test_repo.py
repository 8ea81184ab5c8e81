"""The repository's own rules, checked: imports go down the layers (import-linter's ``layers``
contract in pyproject.toml), and no file names an absolute path of the machine it was made on."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_imports_go_down_the_layers():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout


# an absolute path into a machine's own folders (home, the work tree, a temp dir) makes a file
# work on one machine only; package data and tests find their files relative to themselves
ABSOLUTE = re.compile(r"(?<![\w.~])/(?:work|home|root|Users|tmp)/[\w.-]+")


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [ROOT / f for f in out if f.endswith((".py", ".md", ".toml", ".cfg", ".txt", ".sh"))
            or f.startswith(".ci/")]


def test_no_absolute_machine_paths():
    offenders = []
    for path in _tracked_files():
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                 .splitlines(), 1):
            if ABSOLUTE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:90]}")
    assert offenders == [], "\n".join(offenders)


def test_the_absolute_path_check_can_fail():
    # the offending paths are assembled here, so this file holds none itself
    work, home = "/".join(("", "work", "shared", "data", "x.txt")), "/".join(("", "home", "me"))
    assert ABSOLUTE.search(f'DATA = "{work}"')
    assert ABSOLUTE.search(f"see {home}/data")
    assert not ABSOLUTE.search("../shared/data/tinyshakespeare/input.txt")
    assert not ABSOLUTE.search("https://example.org/tmp/x and ~/.cache/deepwise")
