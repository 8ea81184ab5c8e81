"""explain.report: the HTML training report, checked in a headless Chromium (screenshot not blank,
every embedded image a PNG that decodes), and the graph's SVG rendered by the same browser."""

import argparse
import base64
import io
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import deepwise as dw
from deepwise import explain, nn, optim, train
from deepwise.explain.cli import add_commands

pytest.importorskip("matplotlib")

CHROMIUM = next((p for p in (os.environ.get("CHROMIUM"), "/usr/bin/chromium",
                             shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and os.path.exists(p)), None)
NO_CHROMIUM = ("headless Chromium not found (apt-get install -y chromium): the page is not "
               "rendered in a browser")


def _chromium(tmp_path, url, *extra, size="1200,1600"):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={size}", *extra,
           url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _screenshot(tmp_path, path, name):
    shot = tmp_path / f"{name}.png"
    _chromium(tmp_path, f"file://{path}", f"--screenshot={shot}")
    import matplotlib.image as mpimg
    img = mpimg.imread(str(shot))[..., :3]
    return img


def _trained(epochs=6):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 10)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    tr = [(dw.tensor(x[:64]), dw.tensor(y[:64]))]
    va = [(dw.tensor(x[64:]), dw.tensor(y[64:]))]
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
    flow = explain.GradientFlow()
    hist = train.fit(model, tr, val_data=va, loss=nn.CrossEntropyLoss(),
                     optimizer=optim.Adam(model.parameters(), lr=0.02), epochs=epochs,
                     callbacks=[flow], verbose=False)
    return model, hist, flow


def _images(page):
    """Every <img> src of the page, decoded: all must be base64 PNGs that decode."""
    import matplotlib.image as mpimg
    srcs = re.findall(r"<img [^>]*src='([^']*)'", page)
    out = []
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), src[:60]
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(io.BytesIO(raw))
        assert img.shape[0] > 50 and img.shape[1] > 50 and img[..., :3].std() > 0.02
        out.append(img)
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One trained model and its report, shared by the tests that only read them."""
    model, hist, flow = _trained()
    path = explain.report(hist, tmp_path_factory.mktemp("report") / "report.html", model=model,
                          gradient_flow=flow, input_shape=(10,))
    return hist, path


def test_report_page_content(made):
    hist, path = made
    page = open(path, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>") and "</html>" in page
    assert "http://" not in page and "https://" not in page  # self-contained
    imgs = _images(page)
    assert len(imgs) == 4  # loss, accuracy, learning rate, gradient flow
    for alt in ("loss", "accuracy", "learning rate", "gradient flow"):
        assert f"alt='{alt}'" in page
    assert "Total params: 210" in page  # nn.summary of the model
    assert "val_loss" in page and "(epoch " in page
    last = hist.history["val_accuracy"][-1]
    assert f"{last:.6g}" in page


def test_report_renders_in_headless_chromium(tmp_path, made):
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    _, path = made
    img = _screenshot(tmp_path, path, "report")
    assert img.shape[:2] == (1600, 1200)
    assert img.var() > 0.005  # not a blank page
    assert (img.mean(axis=2) < 0.5).mean() > 0.005  # text and plot lines are drawn
    # the curves (embedded PNGs, side by side) fill the middle of the page: not a broken-image
    # icon but plots, with many distinct colours
    middle = img[500:1100, :]
    assert len(np.unique((middle * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200


def test_graph_svg_renders_in_headless_chromium(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed (apt-get install graphviz)")
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    loss = model(dw.randn(2, 3)).pow(2).mean()
    explain.graph(loss, tmp_path / "g.svg", params=model)
    img = _screenshot(tmp_path, tmp_path / "g.svg", "graph")
    assert img.var() > 0.001
    dark = img.mean(axis=2) < 0.5
    assert dark.mean() > 0.002  # node outlines, labels and edges are drawn


def test_report_from_a_run_directory_and_cli(tmp_path, capsys):
    _, hist, _ = _trained(epochs=4)
    run = tmp_path / "run"
    run.mkdir()
    metrics = {"test_accuracy": 0.75, "test_loss": 0.5, "best_epoch": 4,
               "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    loaded = explain.load_run(run)
    assert loaded["results"]["test_accuracy"] == 0.75
    assert loaded["history"]["loss"] == metrics["history"]["loss"]
    p = argparse.ArgumentParser()
    add_commands(p.add_subparsers(dest="command"))
    args = p.parse_args(["report", str(run)])
    assert args.func(args) == 0
    page = (run / "report.html").read_text()
    assert "test_accuracy" in page and len(_images(page)) == 3
    assert f"wrote {run / 'report.html'}" in capsys.readouterr().out


def test_report_from_a_checkpoint_and_a_csv_log(tmp_path):
    pytest.importorskip("safetensors", reason="checkpoints need safetensors (pip install "
                        "safetensors)")
    from deepwise import io as dwio
    model, hist, _ = _trained(epochs=3)
    ckdir = tmp_path / "ck"
    ckdir.mkdir()
    dwio.save_checkpoint(ckdir / "model.safetensors", model, history=hist,
                         config={"model": "mlp", "hidden": [16]})
    page = open(explain.report(str(ckdir), tmp_path / "a.html"), encoding="utf-8").read()
    assert "0.weight" in page and "&quot;hidden&quot;" in page and len(_images(page)) == 3
    csvdir = tmp_path / "csv"
    csvdir.mkdir()
    (csvdir / "log.csv").write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.5,0.9\n2,0.3,1.2\n"
                                    "3,0.2,1.5\n")
    page = open(explain.report(str(csvdir), tmp_path / "b.html"), encoding="utf-8").read()
    assert "Overfitting" in page and "EarlyStopping" in page  # the note on the rising val loss
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no training history"):
        explain.report(str(tmp_path / "empty"), tmp_path / "c.html")
