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


# ---- the detector's features for the forecaster ----------------------------------------------

def test_appearance_features_read_the_best_view_at_the_box_centre():
    dw.manual_seed(0)
    det = CenterNet(width=4, head_channels=8)
    r = SceneRenderer(_rows(12), 3, seed=2, noise=0, blur=0)
    table = Dr.appearance_features(det, r, [0, 50, 999], batch_size=4)
    assert table[999] == {}  # a frame nobody is annotated in
    views = r.render(50)
    seen = {int(p) for v in views for p, vis in zip(v.ids, v.visible) if vis >= 0.3}
    assert set(table[50]) == seen and seen
    pid = sorted(seen)[0]
    # by hand: the view with the largest visible fraction x box height, the centre's cell
    score, cam, box = max((float(vis) * (b[3] - b[1]), c, b) for c, v in enumerate(views)
                          for p, b, vis in zip(v.ids, v.boxes, v.visible)
                          if p == pid and vis >= 0.3)
    fmap = det.features(dw.tensor(views[cam].image[None])).data[0]
    cx, cy = int((box[0] + box[2]) / 8), int((box[1] + box[3]) / 8)
    vec = table[50][pid]
    assert vec.shape == (9,) and vec[-1] == 1.0
    np.testing.assert_allclose(vec[:-1], fmap[:, min(cy, 23), min(cx, 31)], rtol=1e-5,
                               atol=1e-6)
    # the windows' lookup: seen positions get their vectors, the rest zeros
    w = Dr.eth_ucy.make_windows(_rows(24), 8, 12)
    feats = Dr.appearance_features(det, r, range(0, 80, 10))
    wf = Dr.window_features(w, [10], [feats], 9)
    assert wf.shape == (len(w.start), 8, 9)
    i = int(np.flatnonzero(w.start == 0)[0])
    for k in range(8):
        got = feats[10 * k].get(int(w.pedestrian[i]))
        np.testing.assert_array_equal(wf[i, k], np.zeros(9) if got is None else got)


def _turners(n, seed):
    """Walkers straight for 8 positions, then turning left or right (the future's sign), and
    a per-position feature that says which: constant velocity and a position-only model cannot
    know the side; a model that reads the features can."""
    rng = np.random.default_rng(seed)
    side = rng.choice([-1.0, 1.0], n)
    speed = rng.uniform(0.3, 0.5, n)
    heading = rng.uniform(0, 2 * np.pi, n)[:, None] + np.r_[np.zeros(8), 0.25 * np.arange(
        1, 13)][None] * side[:, None]
    steps = speed[:, None, None] * np.stack([np.cos(heading), np.sin(heading)], -1)
    traj = np.cumsum(steps, 1)
    feats = np.zeros((n, 8, 3), np.float32)
    feats[:, :, 0] = side[:, None]
    feats[:, :, 1:] = rng.normal(0, 1, (n, 8, 2))  # noise the model must learn to ignore
    w = Dr.eth_ucy.Windows(traj, np.arange(n), np.zeros(n, np.int64), np.arange(n),
                           np.zeros(n, np.int64), ["turns"], 8)
    return Dr.eth_ucy.TrajectoryWindows(w), feats


def test_forecaster_learns_from_features_what_positions_do_not_say():
    train, f_train = _turners(1200, 0)
    test, f_test = _turners(300, 1)
    scores = {}
    for feats in (None, f_train):
        dw.manual_seed(0)
        model = TrajectoryLSTM(embed_size=16, hidden_size=32, features=0 if feats is None else 3)
        Dr.train_feature_forecaster(model, train, feats, epochs=4, lr=5e-3, log=None)
        pred = model.predict(test.observed, features=None if feats is None else f_test)
        scores[feats is None] = Dr.tm.ade(pred, test.future)
    # without the side, the best a model can do is go straight between the two turns
    # (measured 0.88 m with the features, 1.73 m without)
    assert scores[False] < 0.65 * scores[True], scores
    with pytest.raises(ValueError, match="takes 0 features per position"):
        Dr.train_feature_forecaster(TrajectoryLSTM(), train, f_train, log=None)
    with pytest.raises(ValueError, match="do not match the windows"):
        Dr.train_feature_forecaster(TrajectoryLSTM(features=3), train, f_train[:5], log=None)
    with pytest.raises(ValueError, match="social model"):
        Dr.train_feature_forecaster(TrajectoryLSTM(social=True), train, None, log=None)


def test_forecaster_features_command(checkpoints, capsys):
    t = checkpoints
    root = t / "eth-ucy"
    for folder, suffix in (("all_data", ""), ("train", "_train"), ("val", "_val")):
        (root / folder).mkdir(parents=True)
        for stems in [*Dr.eth_ucy.SCENES.values(), Dr.eth_ucy.TRAIN_ONLY]:
            for i, stem in enumerate(stems):
                np.savetxt(root / folder / f"{stem}{suffix}.txt", _rows(22 + i), fmt="%g",
                           delimiter="\t")
    args = _parser().parse_args(["train", "forecaster-features", "--detector",
                                 str(t / "det.safetensors"), "--out", str(t / "feat"),
                                 "--data", str(root), "--epochs", "1", "--seeds", "1"])
    assert args.func(args) == 0
    res = json.loads((t / "feat" / "results.json").read_text())
    assert res["features"] == 9 and res["test_windows"] > 0 and 0 < res["seen_test"] <= 1
    assert set(res["runs"]["0"]) == {"positions", "positions + features"}
    assert "mean: positions + features" in capsys.readouterr().out
    args = _parser().parse_args(["train", "forecaster-features", "--detector",
                                 str(t / "det.safetensors"), "--out", str(t / "feat"),
                                 "--epochs", "0"])
    with pytest.raises(Dr.CommandError, match="--epochs and --seeds must be at least 1"):
        args.func(args)
