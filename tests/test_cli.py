"""The deepwise command: --version, demo, train mlp, evaluate, and their errors."""

import json
import re
import subprocess
import sys

import pytest

import deepwise
from deepwise.cli import main


def test_version():
    out = subprocess.run([sys.executable, "-m", "deepwise.cli", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"deepwise {deepwise.__version__}"


def test_help_on_every_command(capsys):
    for argv in (["--help"], ["demo", "--help"], ["train", "--help"], ["train", "mlp", "--help"],
                 ["evaluate", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        assert "usage: deepwise" in capsys.readouterr().out


def test_demo_learns_the_digits(capsys):
    assert main(["demo", "--quiet"]) == 0
    out = capsys.readouterr().out
    acc = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    assert acc >= 0.95, out


def test_train_mlp_writes_checkpoint_and_evaluate_reads_it(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", "mlp", "--data", "digits", "--hidden", "32", "--epochs", "15",
                 "--batch-size", "32", "--out", str(out_dir), "--quiet"]) == 0
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.85 and metrics["epochs_run"] <= 15
    assert (out_dir / "model.safetensors").exists() and (out_dir / "best.safetensors").exists()
    assert not list(out_dir.glob("*.tmp*"))
    capsys.readouterr()
    assert main(["evaluate", str(out_dir / "model.safetensors")]) == 0
    got = json.loads(capsys.readouterr().out)
    assert abs(got["accuracy"] - metrics["test_accuracy"]) < 1e-4


def test_evaluate_rejects_a_checkpoint_without_config(tmp_path):
    from deepwise import nn
    from deepwise.io import save_checkpoint

    path = tmp_path / "bare.safetensors"
    save_checkpoint(path, nn.Linear(3, 2))
    with pytest.raises(SystemExit, match="no model config"):
        main(["evaluate", str(path), "--data", "digits"])


def test_wrong_data_path_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWISE_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HOME", str(tmp_path))
    from deepwise.data.datasets import MNIST

    with pytest.raises(FileNotFoundError, match="nowhere"):
        MNIST(root=str(tmp_path / "empty"))
