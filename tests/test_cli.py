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
                 ["train", "cnn", "--help"], ["train", "char-rnn", "--help"],
                 ["train", "sentiment", "--help"], ["evaluate", "--help"], ["generate", "--help"],
                 ["predict", "--help"], ["explain", "--help"], ["report", "--help"]):
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


def test_evaluate_rejects_a_checkpoint_without_config(tmp_path, capsys):
    from deepwise import nn
    from deepwise.io import save_checkpoint

    path = tmp_path / "bare.safetensors"
    save_checkpoint(path, nn.Linear(3, 2))
    assert main(["evaluate", str(path), "--data", "digits"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("deepwise evaluate: ") and "holds no model config" in err
    assert "deepwise train mlp|cnn" in err


def test_evaluate_reads_a_checkpoint_of_the_previous_layout(tmp_path, capsys):
    """Before apps/, 'deepwise train mlp' wrote RUN/model.safetensors with save_checkpoint(model,
    optimizer, epoch, history, config=...); the format is unchanged and still evaluates."""
    from deepwise import models, optim
    from deepwise.io import save_checkpoint

    config = {"model": "mlp", "in_features": 64, "hidden": [16], "num_classes": 10,
              "dropout": 0.0, "data": "digits"}
    model = models.build(config)
    save_checkpoint(tmp_path / "model.safetensors", model, optim.Adam(model.parameters()),
                    epoch=1, history={"loss": [2.3]}, config=config)
    assert main(["evaluate", str(tmp_path / "model.safetensors")]) == 0
    got = json.loads(capsys.readouterr().out)
    assert set(got) >= {"accuracy", "f1", "loss"} and 0.0 <= got["accuracy"] <= 0.3  # untrained


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "no/such/file.safetensors", "--data", "digits"], "deepwise evaluate: "),
    (["generate", "no/such/file.safetensors"], "deepwise generate: "),
    (["predict", "no/such/file.safetensors", "fine"], "deepwise predict: "),
    (["train", "char-rnn", "--text", "no/such/file.txt"], "deepwise train char-rnn: "),
    (["train", "sentiment", "--data", "no/such/dir"], "deepwise train sentiment: "),
    (["train", "mlp", "--data", "digits", "--hidden", "32,x"], "deepwise train mlp: "),
    (["explain", "descent", "--out", "x.txt"], "deepwise explain descent: "),
])
def test_every_user_error_is_one_line_and_exit_1(argv, message):
    """The same message style and exit code for every command's user errors, no traceback."""
    out = subprocess.run([sys.executable, "-m", "deepwise.cli", *argv], capture_output=True,
                         text=True)
    assert out.returncode == 1, out
    assert out.stderr.startswith(message) and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_commands_are_defined_in_the_applications_only():
    """cli.py is a dispatcher: every command is added by an application (apps/), by explain's
    command module or by the playground; no other module builds parsers."""
    from pathlib import Path

    root = Path(deepwise.__file__).parent
    allowed = {root / "cli.py", root / "explain" / "cli.py"}
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "add_parser(" in p.read_text(encoding="utf-8")
                 and p not in allowed and "apps" not in p.parts and "playground" not in p.parts]
    assert offenders == []
    assert "add_parser(" not in (root / "cli.py").read_text(encoding="utf-8")


def test_every_application_registers_its_commands():
    from deepwise import apps
    from deepwise.cli import build_parser

    names = [m.__name__.rsplit(".", 1)[1] for m in apps.modules()]
    assert names[:3] == ["image_classification", "text_generation", "sentiment"]
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command_group")
    assert {"demo", "train", "evaluate", "generate", "predict", "explain", "report"} <= set(
        sub.choices)
    train = next(a for a in sub.choices["train"]._actions if a.dest == "model_kind")
    assert {"mlp", "cnn", "char-rnn", "sentiment"} <= set(train.choices)


def test_wrong_data_path_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWISE_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HOME", str(tmp_path))
    from deepwise.data.datasets import MNIST

    with pytest.raises(FileNotFoundError, match="nowhere"):
        MNIST(root=str(tmp_path / "empty"))


def test_a_missing_optional_package_is_one_line(monkeypatch, capsys):
    """An optional package that is not installed (safetensors for checkpoints) is reported as the
    command's one-line error with what to install, like any other user error."""
    import deepwise.io.serialization as ser

    def missing():
        raise ImportError("deepwise.io needs the `safetensors` package to save and load files: "
                          "pip install safetensors")

    monkeypatch.setattr(ser, "_safetensors", missing)
    assert main(["evaluate", "some.safetensors", "--data", "digits"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("deepwise evaluate: ") and "pip install safetensors" in err
