"""The playground: its data, its checked config, the JSON API of a real server on 127.0.0.1
(port 0, every request with a timeout, the server stopping by itself), training through the API,
the "show me the code" script reproducing the run, and the page in headless Chromium."""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from deepwise import playground
from deepwise.playground import datasets
from deepwise.playground.config import Config, ConfigError
from deepwise.playground.session import Session, SessionLimits

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 20  # seconds, for every request
ALL = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]


# ---- a server for the tests ----------------------------------------------------------------------
@pytest.fixture
def server():
    s = playground.start(port=0, lifetime=240)  # stops by itself, whatever happens here
    yield s
    s.close()


def call(server, path, body=None, method=None, raw=None, headers=None):
    """(status, decoded JSON) of one request."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(server.url.rstrip("/") + path, data=data,
                                 method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def new(server, **config):
    status, r = call(server, "/api/sessions", {"config": config})
    assert status == 200, r
    return r["id"], r


# ---- data and config -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", datasets.DATASETS)
def test_datasets_split_range_and_repeat(name):
    a = datasets.make(name, n=200, noise=0.2, train_ratio=0.3, seed=3)
    b = datasets.make(name, n=200, noise=0.2, train_ratio=0.3, seed=3)
    x_tr, y_tr, x_te, y_te = a
    assert x_tr.shape == (60, 2) and y_tr.shape == (60, 1) and x_te.shape == (140, 2)
    assert x_tr.dtype == np.float32 and np.abs(np.vstack([x_tr, x_te])).max() <= datasets.RADIUS
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    y = np.vstack([y_tr, y_te])
    if datasets.is_regression(name):
        assert y.min() >= -1 and y.max() <= 1 and y.std() > 0.1
    else:
        assert set(np.unique(y)) == {0.0, 1.0} and 0.4 < y.mean() < 0.6
    f = datasets.features(x_tr, ALL)
    np.testing.assert_allclose(f[:, 4], x_tr[:, 0] * x_tr[:, 1], rtol=1e-6)
    np.testing.assert_allclose(f[:, 6], np.sin(x_tr[:, 1]), rtol=1e-6)


def test_datasets_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown data set 'moons'"):
        datasets.make("moons")
    with pytest.raises(ValueError, match=r"expected points \(N, 2\), got \(3,\)"):
        datasets.features(np.zeros(3), ["x1"])
    with pytest.raises(ValueError, match="unknown or no feature names \\['x3'\\]"):
        datasets.features(np.zeros((3, 2)), ["x3"])


@pytest.mark.parametrize("bad, message", [
    ({"hidden": [4, 9]}, r"config.hidden\[1\]: expected an int from 1 to 8, got 9"),
    ({"hidden": [1] * 7}, "at most 6 layer widths"),
    ({"lr": "0.1"}, r"config.lr: expected a number from 1e-05 to 10, got '0.1'"),
    ({"lr": float("nan")}, "config.lr"),
    ({"batch_size": True}, "config.batch_size: expected an int"),
    ({"dataset": "moons"}, r"config.dataset: expected one of \['circle'"),
    ({"features": []}, "config.features: expected a list of 1 to 7"),
    ({"features": ["x1", "x1"]}, "named twice"),
    ({"features": ["__import__('os')"]}, r"config.features\[0\]: expected one of"),
    ({"code": "print(1)"}, r"unknown field\(s\) \['code'\]"),
    ({"dropout": 0.95}, "config.dropout: expected a number from 0 to 0.9, got 0.95"),
])
def test_config_rejects_with_the_field_named(bad, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(bad)


def test_config_round_trip_and_feature_order():
    cfg = Config.from_dict({"features": ["sin(x1)", "x1"], "hidden": [3], "lr": 1})
    assert cfg.features == ("x1", "sin(x1)") and cfg.hidden == (3,) and cfg.lr == 1.0
    assert Config.from_dict(cfg.to_dict()) == cfg


# ---- the JSON API --------------------------------------------------------------------------------
def test_api_session_life(server):
    status, opts = call(server, "/api/options")
    assert status == 200 and "spiral" in opts["datasets"] and opts["features"] == ALL
    sid, r = new(server, dataset="xor", hidden=[3], features=["x1", "x2"])
    info, frame = r["info"], r["frame"]
    assert info["layers"] == [2, 3, 1] and len(info["train"]) == 200 and len(info["test"]) == 200
    assert frame["step"] == 0 and len(frame["weights"]) == 2
    assert np.array(frame["weights"][0]["weight"]).shape == (3, 2)
    assert len(base64.b64decode(frame["output"]["data"])) == info["grid"] ** 2
    assert len(frame["neurons"]) == 1 and len(frame["neurons"][0]) == 3
    assert len(base64.b64decode(frame["neurons"][0][0]["data"])) == info["neuron_grid"] ** 2
    status, f = call(server, f"/api/sessions/{sid}/control", {"action": "step"})
    assert status == 200 and f["step"] == 1 and f["batch_loss"] > 0
    assert f["weights"][0]["weight"] != frame["weights"][0]["weight"]  # the step changed them
    status, code = call(server, f"/api/sessions/{sid}/code")
    assert status == 200 and "STEPS = 1" in code["code"] and "nn.Linear(2, 3), nn.Tanh()," in \
        code["code"]
    status, r = call(server, f"/api/sessions/{sid}/config", {"hidden": [2, 2], "lr": 0.1})
    assert status == 200 and r["info"]["layers"] == [2, 2, 2, 1] and r["frame"]["step"] == 0
    status, r = call(server, f"/api/sessions/{sid}", method="DELETE")
    assert status == 200
    status, r = call(server, f"/api/sessions/{sid}/frame")
    assert status == 404 and "no session" in r["error"]


def test_api_explain_narrates_one_backward_pass(server):
    sid, _ = new(server, hidden=[3], features=["x1", "x2"])
    status, e = call(server, f"/api/sessions/{sid}/explain", {"index": 5, "split": "train"})
    assert status == 200
    # Linear -> Tanh -> Linear -> BCE: four nodes, from the loss back to the first layer
    assert [s["op"] for s in e["steps"]] == ["BCEWithLogits", "Linear", "Tanh", "Linear"]
    assert "1 - y^2" in e["steps"][2]["derivative"]
    names = [n for n, _ in e["leaves"]]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    # dL/d(logit) of binary cross-entropy with logits is sigmoid(z) - t
    z, t = e["output"], e["target"]
    got = float(e["steps"][0]["grad_inputs"][0].strip("[]"))
    assert got == pytest.approx(1 / (1 + np.exp(-z)) - t, rel=1e-4, abs=1e-6)
    assert "outgoing = incoming * local derivative" in e["text"]
    status, r = call(server, f"/api/sessions/{sid}/explain", {"index": 10_000})
    assert status == 400 and "index must be an int from 0 to 199" in r["error"]


@pytest.mark.slow
def test_digits_cnn_view(server):
    sid, r = new(server, dataset="digits", hidden=[4, 8], activation="relu", lr=0.01,
                 optimizer="adam", batch_size=32)
    info, f0 = r["info"], r["frame"]
    assert info["kind"] == "digits" and info["layers"] == [1, 4, 8, 10]
    assert info["n_train"] == 1352 and info["n_test"] == 445
    assert len(base64.b64decode(info["strip"])) == 64 * len(info["strip_labels"])
    assert len(f0["filters"]) == 4 and [m["side"] for m in f0["maps"]] == [8, 4]
    assert [len(m["channels"]) for m in f0["maps"]] == [4, 8]
    assert len(f0["probs"]) == 10 and sum(f0["probs"]) == pytest.approx(1, abs=1e-3)
    assert f0["gradflow"]["layers"] == ["conv 1", "conv 2", "output"]
    assert [d["layer"] for d in f0["dead"]] == ["conv 1", "conv 2"]
    status, e = call(server, f"/api/sessions/{sid}/explain", {"index": 7, "split": "test"})
    assert status == 200 and e["steps"][0]["op"] == "CrossEntropy" and e["point"] is None
    assert "Conv2d" in [s["op"] for s in e["steps"]]
    assert call(server, f"/api/sessions/{sid}/frame")[1]["sample"] == 7  # its maps are shown
    for _ in range(60):
        f = call(server, f"/api/sessions/{sid}/control", {"action": "step"})[1]
    # 60 steps of 32 images: from chance (~10%, loss ~2.3) to well above what chance allows
    assert f0["test_loss"] > 2.0 and f["test_loss"] < 1.5 and f["test_acc"] > 0.5, f
    status, r = call(server, f"/api/sessions/{sid}/config", {"hidden": [2, 2, 2, 2]})
    assert status == 400 and "at most 3 conv layers" in r["error"]


def test_training_through_the_api_lowers_the_loss(server):
    # the circle is not linearly separable in (x1, x2): the linear model stays near chance
    # (loss ~0.69); a hidden layer, or the squared features, must get far below that
    linear, _ = new(server, dataset="circle", hidden=[], lr=0.1, speed=1000)
    sid, r = new(server, dataset="circle", hidden=[6, 4], lr=0.1, speed=1000)
    start = r["frame"]["test_loss"]
    for s in (linear, sid):
        assert call(server, f"/api/sessions/{s}/control", {"action": "play"})[0] == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        f = call(server, f"/api/sessions/{sid}/frame")[1]
        if f["step"] >= 2500:
            break
    lin = call(server, f"/api/sessions/{linear}/control", {"action": "pause"})[1]
    f = call(server, f"/api/sessions/{sid}/control", {"action": "pause"})[1]
    assert f["step"] >= 1000, f"only {f['step']} steps in 60 s"
    assert start > 0.6 and f["test_loss"] < 0.2 and f["test_acc"] >= 0.95, f
    assert lin["test_acc"] < 0.75 and lin["test_loss"] > 0.6, lin  # the weaker model misses it
    h = f["history"]
    assert h["step"][0] == 0 and h["train"][-1] < h["train"][0]
    assert f["overfitting"]["state"] == "ok"
    flow = f["gradflow"]
    assert flow["layers"] == ["hidden 1", "hidden 2", "output"] and len(flow["grad_norm"]) == 3


@pytest.mark.parametrize("config", [
    # dropout, L1, L2 and momentum: every random draw and every term of the update takes part
    dict(dataset="spiral", noise=0.1, hidden=[5, 3], features=ALL, activation="relu",
         optimizer="momentum", lr=0.01, l1=0.001, l2=0.001, dropout=0.2, batch_size=7, seed=11),
    dict(dataset="bumps", noise=0.05, hidden=[4], activation="sigmoid", optimizer="sgd",
         lr=0.3, l2=0.01, batch_size=16, seed=2),
    pytest.param(dict(dataset="digits", hidden=[3, 4], activation="tanh", optimizer="adam",
                      lr=0.01, dropout=0.1, l1=0.0001, batch_size=32, seed=4, speed=30),
                 marks=pytest.mark.slow),
], ids=["spiral-relu-momentum-dropout-l1-l2", "bumps-regression", "digits-cnn"])
def test_show_me_the_code_reproduces_the_run(server, tmp_path, config):
    sid, _ = new(server, **config)
    for _ in range(3):
        call(server, f"/api/sessions/{sid}/control", {"action": "step"})
    call(server, f"/api/sessions/{sid}/control", {"action": "play"})  # the thread trains on
    deadline = time.monotonic() + 30
    while call(server, f"/api/sessions/{sid}/frame")[1]["step"] < 15 and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    f = call(server, f"/api/sessions/{sid}/control", {"action": "pause"})[1]
    assert f["step"] >= 15
    code = call(server, f"/api/sessions/{sid}/code")[1]["code"]
    assert f"STEPS = {f['step']}" in code
    path = tmp_path / "run.py"
    path.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout
    last = out.strip().splitlines()[-1]
    train = float(last.split("train loss ")[1].split(",")[0])
    test = float(last.split("test loss ")[1])
    assert train == pytest.approx(f["train_loss"], abs=1e-6)
    assert test == pytest.approx(f["test_loss"], abs=1e-6)


def test_sessions_do_not_leak_into_each_other():
    """Two sessions training at once (both with dropout, which draws from deepwise's one global
    generator) give exactly the run a session alone gives."""
    cfg = Config(dataset="xor", hidden=(4,), dropout=0.3, seed=5, features=("x1", "x2"))
    other = Config(dataset="spiral", hidden=(8, 8), dropout=0.5, seed=6)
    a, b = Session(cfg), Session(other)
    try:
        t = threading.Thread(target=lambda: [b.train_steps(1) for _ in range(300)])
        t.start()
        for _ in range(300):
            a.train_steps(1)
        t.join(timeout=60)
        alone = Session(cfg)
        alone.train_steps(300)
        for p, q in zip(a.model.parameters(), alone.model.parameters()):
            np.testing.assert_array_equal(p.data, q.data)
        assert a.frame()["train_loss"] == alone.frame()["train_loss"]
    finally:
        for s in (a, b):
            s.close()


def test_the_guide_shows_the_script_the_page_gives():
    """docs/10-playground.md prints the script of one run verbatim (and test_docs runs it): it
    must be what "show me the code" gives for that run."""
    from deepwise.playground.script import script

    guide = (ROOT / "docs" / "10-playground.md").read_text(encoding="utf-8")
    cfg = Config(dataset="xor", features=("x1", "x2"), hidden=(4, 2), lr=0.1)
    assert "```python\n" + script(cfg, 1000) + "```" in guide


# ---- bad requests --------------------------------------------------------------------------------
def test_bad_requests_get_clear_json_errors(server):
    cases = [
        (call(server, "/api/sessions", raw=b"{not json"), 400, "not valid JSON"),
        (call(server, "/api/sessions", raw=b"[1, 2]"), 400, "must be a JSON object"),
        (call(server, "/api/sessions", raw=b"x" * 20_000), 413, "at most 16384"),
        (call(server, "/api/sessions", {"config": {"hidden": [100]}}), 400,
         "config.hidden[0]: expected an int from 1 to 8, got 100"),
        (call(server, "/api/sessions", {"config": {}, "evil": 1}), 400, "unknown field(s)"),
        (call(server, "/api/sessions"), 405, "GET is not allowed here (use POST)"),
        (call(server, "/api/sessions/nope/frame"), 404, "no session 'nope'"),
        (call(server, "/api/nothing"), 404, "nothing at"),
        (call(server, "/static/../server.py"), 404, "no static file"),
        (call(server, "/static/%2e%2e/session.py"), 404, "no static file"),
        (call(server, "/static/..%2f__init__.py"), 404, "no static file"),
        (call(server, "/../../etc/passwd"), 404, "nothing at"),
    ]
    for (status, body), want, text in cases:
        assert status == want and text in body["error"], (status, body)
    sid, _ = new(server)
    status, body = call(server, f"/api/sessions/{sid}/control", {"action": "explode"})
    assert status == 400 and "unknown action 'explode'" in body["error"]
    status, body = call(server, f"/api/sessions/{sid}/control", {"action": "play", "x": 1})
    assert status == 400
    status, body = call(server, f"/api/sessions/{sid}/config", {"lr": 1e9})
    assert status == 400 and "config.lr" in body["error"]
    # a raw request without Content-Length
    import http.client
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=TIMEOUT)
    conn.putrequest("POST", "/api/sessions")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 411 and "Content-Length" in json.loads(r.read())["error"]
    conn.close()
    # the page itself and its files are served, with a strict content policy
    with urllib.request.urlopen(server.url, timeout=TIMEOUT) as r:
        page = r.read().decode()
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert '<script src="/static/app.js">' in page and "https://" not in page
    assert call(server, f"/api/sessions/{sid}/frame")[0] == 200  # still serving


def test_stream_sends_frames_and_survives_a_client_that_leaves(server):
    sid, _ = new(server, speed=200)
    call(server, f"/api/sessions/{sid}/control", {"action": "play"})
    frames = []
    with urllib.request.urlopen(f"{server.url}api/sessions/{sid}/stream", timeout=TIMEOUT) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        t0 = time.monotonic()
        while len(frames) < 5:
            line = r.readline()
            if line.startswith(b"data: "):
                frames.append(json.loads(line[6:]))
        elapsed = time.monotonic() - t0
    # the client has gone, mid-stream; the frames were rate-limited and moving
    steps = [f["step"] for f in frames]
    assert steps == sorted(steps) and steps[-1] > steps[0]
    assert elapsed >= 3 / server.fps
    assert call(server, f"/api/sessions/{sid}/frame")[0] == 200
    assert new(server)[0]  # and new sessions still start


def test_idle_sessions_are_reaped_and_caps_hold():
    s = playground.start(port=0, lifetime=60, idle_s=1.5, max_sessions=2,
                         limits=SessionLimits(max_train_s=0.2))
    try:
        a, _ = new(s, speed=1000)
        b, _ = new(s)
        status, r = call(s, "/api/sessions", {"config": {}})
        assert status == 503 and "all 2 sessions are in use" in r["error"]
        call(s, f"/api/sessions/{a}/control", {"action": "play"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b in s.sessions:  # (looking does not touch b)
            time.sleep(0.3)
            f = call(s, f"/api/sessions/{a}/frame")[1]  # a is in use; b is left idle
        assert call(s, f"/api/sessions/{b}/frame")[0] == 404, "the idle session was not reaped"
        f = call(s, f"/api/sessions/{a}/frame")[1]
        assert not f["playing"] and "training stopped" in f["note"] and f["step"] > 0
        assert new(s)[0]  # its place is free again
    finally:
        s.close()


def test_a_diverging_run_still_gets_frames(server):
    sid, _ = new(server, dataset="plane", hidden=[8, 8], activation="relu", lr=10.0)
    for _ in range(30):
        status, f = call(server, f"/api/sessions/{sid}/control", {"action": "step"})
        assert status == 200  # NaN and Inf become null: still valid JSON
    assert f["train_loss"] is None and "training diverged" in f["note"]
    status, e = call(server, f"/api/sessions/{sid}/explain", {"index": 0})
    assert status == 200 and e["loss"] is None


def test_a_run_stops_at_its_step_cap():
    s = Session(Config(), SessionLimits(max_steps=7))
    try:
        s.train_steps(10)
        assert s.step == 7
        s.control("play")
        f = s.frame()
        assert f["step"] == 7 and not f["playing"] and "7 steps" in f["note"]
        s.control("reset")
        assert s.frame()["step"] == 0 and s.frame()["note"] == ""
    finally:
        s.close()


def test_add_commands_registers_playground():
    parser = argparse.ArgumentParser(prog="deepwise")
    sub = parser.add_subparsers(dest="command")
    playground.add_commands(sub)
    args = parser.parse_args(["playground", "--port", "0", "--no-browser"])
    assert args.port == 0 and args.no_browser and args.command == "playground"
    assert callable(args.func)
    from deepwise.apps import CommandError
    with pytest.raises(CommandError, match="--port must be from 0 to 65535"):
        playground.serve(70000, open_browser=False)


@pytest.mark.slow
def test_twenty_concurrent_sessions(capsys):
    """20 pages at once, each playing and reading its stream, for ``DEEPWISE_PLAYGROUND_LOAD_S``
    seconds (10 by default; the issue's figure is for 30): every session gets frames and
    trains, the server keeps answering. The frames per second per session and the server's CPU
    are printed (figures, not assertions: the machine is shared)."""
    seconds = float(os.environ.get("DEEPWISE_PLAYGROUND_LOAD_S", "10"))
    code = ("import sys, time; from deepwise import playground; "
            f"s = playground.start(port=0, lifetime={seconds + 60}); print(s.url, flush=True); "
            f"time.sleep({seconds + 61})")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        url = proc.stdout.readline().strip()

        srv = types.SimpleNamespace(url=url)  # what call() needs
        ids = [new(srv, dataset=d, hidden=[4, 4], seed=k)[0]
               for k, d in enumerate(list(datasets.CLASSIFICATION) * 5)]
        counts = {i: 0 for i in ids}
        last_step = {i: 0 for i in ids}
        stop = time.monotonic() + seconds

        errors: list[str] = []

        def reader(sid: str) -> None:
            try:
                call(srv, f"/api/sessions/{sid}/control", {"action": "play"})
                with urllib.request.urlopen(f"{url}api/sessions/{sid}/stream",
                                            timeout=TIMEOUT) as r:
                    while time.monotonic() < stop:
                        line = r.readline()
                        if line.startswith(b"data: "):
                            counts[sid] += 1
                            last_step[sid] = json.loads(line[6:])["step"]
            except Exception as e:  # reported below, with the others
                errors.append(f"{sid}: {type(e).__name__}: {e}")

        def cpu() -> float:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        has_proc = Path(f"/proc/{proc.pid}/stat").exists()
        c0, t0 = (cpu() if has_proc else 0.0), time.monotonic()
        threads = [threading.Thread(target=reader, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 60)
        wall = time.monotonic() - t0
        used = (cpu() - c0) if has_proc else float("nan")
        fps = [counts[i] / seconds for i in ids]
        with capsys.disabled():
            print(f"\n20 sessions for {seconds:g} s: frames/s per session min {min(fps):.1f}, "
                  f"mean {np.mean(fps):.1f}, max {max(fps):.1f}; steps per session mean "
                  f"{np.mean(list(last_step.values())):.0f}; server CPU {used / wall:.2f} "
                  f"cores (os.cpu_count() {os.cpu_count()})")
        assert not errors, errors
        assert all(counts[i] >= 3 for i in ids), counts
        assert all(last_step[i] > 0 for i in ids), last_step
        assert call(srv, "/api/options")[0] == 200  # still serving
    finally:
        proc.kill()
        proc.wait(timeout=10)


# ---- the page in a real browser ------------------------------------------------------------------
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
    JSON messages separated by NUL on fds 3 and 4), so no driver or package is needed."""

    def __init__(self, exe: str, width: int = 1400, height: int = 1300) -> None:
        self._to_r, self._to_w = os.pipe()
        self._from_r, self._from_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="playground-chromium-")

        def fds() -> None:
            os.dup2(self._to_r, 3)
            os.dup2(self._from_w, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=fds,
            close_fds=False)
        os.close(self._to_r)
        os.close(self._from_w)
        self._buf = b""
        self._id = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target,
                                                           "flatten": True})["sessionId"]

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            import select
            ready, _, _ = select.select([self._from_r], [], [], 1.0)
            if ready:
                chunk = os.read(self._from_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self._buf += chunk
        raise TimeoutError(f"{method}: no answer from chromium in {timeout} s")

    def eval(self, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, self.session)
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.25)
        return None

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for fd in (self._to_w, self._from_r):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.mark.slow
def test_page_in_headless_chromium(server, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("Chromium is not installed: the page is not checked in a browser "
                    "(apt-get install -y chromium)")
    browser = _Browser(exe)
    try:
        url = server.url + "?dataset=spiral&features=" + ",".join(ALL).replace("^", "%5E") + \
            "&hidden=8,8,6&optimizer=adam&lr=0.01&speed=300"
        browser.send("Page.navigate", {"url": url}, browser.session)
        assert browser.wait_for("document.getElementById('stepCount').textContent === '0' && "
                                "!!document.querySelector('.node.output')", 30), \
            browser.eval("document.getElementById('status').textContent")
        before = browser.eval("document.getElementById('boundary').toDataURL()")
        n_nodes = browser.eval("document.querySelectorAll('.node.hidden').length")
        assert n_nodes == 22  # 8 + 8 + 6 neurons, each with its picture
        browser.eval("document.getElementById('play').click()")  # press play
        acc = browser.wait_for(
            "(() => { const a = Number(document.getElementById('testAcc').textContent);"
            " return a >= 0.8 ? a : null; })()", 90)
        step = int(browser.eval("document.getElementById('stepCount').textContent"))
        assert acc is not None, (f"test accuracy shown stayed below 0.8 after {step} steps: "
                                 + browser.eval("document.getElementById('testAcc').textContent"))
        after = browser.eval("document.getElementById('boundary').toDataURL()")
        assert after != before  # the decision boundary was redrawn from the trained network
        # click a training point: the narrated backward pass appears
        browser.eval("""(() => { const c = document.getElementById('boundary');
            const p = state.info.train[0], r = state.info.radius, b = c.getBoundingClientRect();
            c.dispatchEvent(new MouseEvent('click', {bubbles: true,
              clientX: b.left + (p[0] + r) / (2 * r) * b.width,
              clientY: b.top + (r - p[1]) / (2 * r) * b.height})); })()""")
        assert browser.wait_for("document.querySelectorAll('#explainSteps .step').length", 20) \
            >= 8
        browser.eval("document.getElementById('showCode').click()")
        assert browser.wait_for("document.getElementById('code').textContent.includes("
                                "'nn.Linear(7, 8), nn.Tanh(),')", 20)
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, browser.session)
        png = base64.b64decode(shot["data"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
        (tmp_path / "playground.png").write_bytes(png)
        if os.environ.get("DEEPWISE_PLAYGROUND_SCREENSHOT"):
            Path(os.environ["DEEPWISE_PLAYGROUND_SCREENSHOT"]).write_bytes(png)
        assert browser.eval("document.getElementById('status').style.color") == ""  # no error
    finally:
        browser.close()


def test_host_option_and_the_warning_for_a_non_loopback_address():
    import warnings

    from deepwise.cli import build_parser
    from deepwise.playground import PlaygroundServer

    args = build_parser().parse_args(["playground", "--no-browser"])
    assert args.host == "127.0.0.1"
    assert build_parser().parse_args(["playground", "--host", "0.0.0.0"]).host == "0.0.0.0"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PlaygroundServer("127.0.0.1", 0).server_close()  # loopback: silent
    with pytest.warns(UserWarning, match="reachable from other machines"):
        server = PlaygroundServer("0.0.0.0", 0)  # bound, never served: no traffic
    server.server_close()
