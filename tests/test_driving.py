"""The driving pipeline: back-projection (foot points land on the true ground positions),
fusion across cameras (an empty camera, duplicates merged), the Kalman tracker (identities kept
through a missed frame, short tracks wait), CLEAR MOT by hand, the whole pipeline with perfect
detections, and the drive command (GIF + metrics.json, bad calibration, bad options)."""

import argparse
import json

import numpy as np
import pytest
from PIL import Image

import deepwise as dw
from deepwise.apps import driving as Dr
from deepwise.data.render import CalibrationError, Camera, SceneRenderer
from deepwise.models.detection import CenterNet
from deepwise.models.trajectory import TrajectoryLSTM, constant_velocity


def _rows(frames=30, gap=None):
    """Four people walking straight lines at 0.3-0.5 m per frame (frame ids step 10)."""
    rows = []
    starts = [(2.0, 2.0, 0.4, 0.1), (9.0, 3.0, -0.35, 0.05), (3.0, 7.0, 0.3, -0.1),
              (8.0, 8.0, -0.1, -0.45)]
    for f in range(frames):
        if gap is not None and f == gap:
            continue
        for p, (x, y, vx, vy) in enumerate(starts, 1):
            rows.append([10 * f, p, x + vx * f * 0.5, y + vy * f * 0.5])
    return np.array(rows)


class ConstantVelocity:
    obs_len, pred_len = 8, 12

    def predict(self, obs, groups=None):
        return constant_velocity(obs, 12)


def _oracle(views):
    return [(v.split()[0], np.ones(len(v.split()[0]))) for v in views]


def test_ground_points_find_the_feet():
    r = SceneRenderer(_rows(), 3, seed=2, noise=0, blur=0)
    f = r.render(50)
    for cam, view in zip(r.cameras, f):
        full = (view.boxes[:, 3] < cam.height - 1) & (view.boxes[:, 1] > 0)  # foot inside
        g = Dr.ground_points(cam, view.boxes[full])
        np.testing.assert_allclose(g, view.feet[full], atol=0.15)
    cam = r.cameras[0]
    assert Dr.ground_points(cam, np.zeros((0, 4))).shape == (0, 2)
    assert len(Dr.ground_points(cam, [[60, 0, 64, 0.5]])) <= 1  # at/above the horizon: dropped


def test_fuse_merges_across_cameras_only():
    a = np.array([[0.0, 0.0], [5.0, 5.0]])
    b = np.array([[0.3, 0.0]])
    fused = Dr.fuse([a, b, np.zeros((0, 2))])
    assert len(fused) == 2
    np.testing.assert_allclose(sorted(map(tuple, fused)), [(0.15, 0.0), (5.0, 5.0)])
    # two people of one camera close together stay two
    assert len(Dr.fuse([np.array([[0.0, 0.0], [0.3, 0.0]])])) == 2
    assert Dr.fuse([np.zeros((0, 2)), np.zeros((0, 2))]).shape == (0, 2)
    assert Dr.fuse([]).shape == (0, 2)


def test_tracker_keeps_identities_through_a_missed_frame():
    rng = np.random.default_rng(0)
    tr = Dr.Tracker()
    ids = []
    for f in range(15):
        pts = np.array([[0.4 * f, 0.0], [10 - 0.4 * f, 3.0]]) + rng.normal(0, 0.05, (2, 2))
        if f == 7:
            pts = pts[:0]  # an empty frame: nobody detected
        live = tr.step(pts)
        if f == 7:
            assert live == []
            continue
        ids.append(sorted((round(t.x[0]), t.id) for t in live))
    assert ids[0] == []  # one hit: tentative, not reported yet
    assert {i for _, i in ids[-1]} == {i for _, i in ids[2]}  # same two ids after the gap
    assert len(tr.tracks) == 2
    # a far-away point is refused by the gate and starts a new track
    live = tr.step(np.array([[100.0, 100.0]]))
    assert all(t.misses == 1 for t in tr.tracks if abs(t.x[0]) < 50)


def test_clear_mot_by_hand():
    p = np.array
    truth = [{1: p([0, 0]), 2: p([5, 0])}, {1: p([0.1, 0]), 2: p([5.1, 0])},
             {1: p([0.2, 0]), 2: p([5.2, 0])}]
    # frame 2: the track on person 2 is replaced by a new id (a switch); frame 1: a stray track
    tracks = [{10: p([0, 0.1]), 20: p([5, 0])}, {10: p([0.1, 0]), 20: p([5.1, 0]),
                                                 30: p([9, 9])},
              {10: p([0.2, 0]), 40: p([5.2, 0.2])}]
    m = Dr.clear_mot(truth, tracks)
    assert (m["misses"], m["false_positives"], m["id_switches"]) == (0, 1, 1)
    assert m["mota"] == pytest.approx(1 - 2 / 6)
    m = Dr.clear_mot(truth, [{}, {}, {}])
    assert m["misses"] == 6 and m["mota"] == 0


def test_pipeline_with_perfect_detections_tracks_and_forecasts():
    rows = _rows(36, gap=4)  # frame 40 has nobody annotated: rendered empty
    metrics, records = Dr.run_pipeline(rows, None, ConstantVelocity(), seed=1, detect=_oracle)
    assert metrics["frames"] == 36 and metrics["ap50"] == pytest.approx(1.0)
    assert metrics["mota"] > 0.75 and metrics["id_switches"] <= 2
    assert metrics["forecasts_scored"] > 20
    # straight walkers: forecasts from tracks nearly as good as from the true paths
    assert metrics["ade_tracked"] < metrics["ade_true_history"] + 0.3
    empty = [r for r in records if r["frame"] == 40][0]
    assert empty["ground"].shape == (0, 2) and empty["truth"] == {}
    # a new track waits for 8 positions before it is forecast
    early = records[3]
    assert early["forecasts"] == {}
    assert all("waiting" in s and "/8" in s for s in early["waiting"].values())


def test_pipeline_errors():
    rows = _rows(10)
    with pytest.raises(ValueError, match="no frames from"):
        Dr.run_pipeline(rows, None, ConstantVelocity(), start=10_000, detect=_oracle)
    odd = [Camera((0.0, 0.0, 4.0), 0.5, 0.4, 100.0, width=100, height=96)]
    with pytest.raises(CalibrationError, match="multiples of 16"):
        Dr.run_pipeline(rows, None, ConstantVelocity(), odd, detect=_oracle)
    with pytest.raises(ValueError, match="no frames to draw"):
        Dr.write_gif("x.gif", [])


def _parser():
    p = argparse.ArgumentParser(prog="deepwise")
    Dr.add_commands(p.add_subparsers())
    return p


@pytest.fixture
def checkpoints(tmp_path):
    dw.manual_seed(0)
    det = CenterNet(width=4, head_channels=8)
    dw.io.save_model(tmp_path / "det.safetensors", det, config={"model": "centernet",
                                                                  **det.config})
    fc = TrajectoryLSTM(embed_size=8, hidden_size=8)
    dw.io.save_model(tmp_path / "fc.safetensors", fc, config={"model": "trajectory-lstm",
                                                              **fc.config})
    scene = tmp_path / "scene.txt"
    np.savetxt(scene, _rows(14), fmt="%g", delimiter="\t")
    return tmp_path


def test_drive_command(checkpoints, capsys):
    t = checkpoints
    args = _parser().parse_args(["drive", "--scene", str(t / "scene.txt"), "--detector",
                                 str(t / "det.safetensors"), "--forecaster",
                                 str(t / "fc.safetensors"), "--out", str(t / "out"),
                                 "--frames", "6", "--threshold", "0.5"])
    assert args.func(args) == 0
    metrics = json.loads((t / "out" / "metrics.json").read_text())
    for key in ("ap50", "mota", "id_switches", "ade_tracked", "ade_true_history"):
        assert key in metrics
    assert metrics["frames"] == 6 and len(metrics["calibration"]) == 3
    gif = Image.open(t / "out" / "drive.gif")
    assert gif.n_frames == 6 and gif.width > 3 * 128
    assert "tracking MOTA" in capsys.readouterr().out


def test_drive_command_bad_input(checkpoints):
    t = checkpoints
    base = ["drive", "--scene", str(t / "scene.txt"), "--detector", str(t / "det.safetensors"),
            "--forecaster", str(t / "fc.safetensors"), "--out", str(t / "out")]
    cams = t / "cams.json"
    cams.write_text(json.dumps([{"position": [0, 0, 4], "yaw": 0, "pitch": -0.2, "focal": 100,
                                 "width": 128, "height": 96}]))
    args = _parser().parse_args(base + ["--cameras", str(cams)])
    with pytest.raises(CalibrationError, match=r"cams.json, camera 0: pitch"):
        args.func(args)
    cams.write_text("{not json")
    with pytest.raises(CalibrationError, match="not JSON"):
        args.func(args)
    args = _parser().parse_args(base + ["--frames", "0"])
    with pytest.raises(Dr.CommandError, match="--frames must be at least 1"):
        args.func(args)
    args = _parser().parse_args(base[:2] + [str(t / "missing.txt")] + base[3:])
    with pytest.raises(FileNotFoundError):
        args.func(args)
    args = _parser().parse_args(base[:4] + [str(t / "fc.safetensors")] + base[5:])
    with pytest.raises(Exception, match="centernet"):  # a forecaster given as the detector
        args.func(args)
