"""ETH/UCY reader and Social GAN's windowing protocol: the format, its errors, gaps, windows,
folds, and the constant-velocity figures of the data's README."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_data

from deepwise.data.datasets import eth_ucy
from deepwise.models.trajectory import constant_velocity
from deepwise.train import trajectory_metrics as tm


def _write(path, rows, sep="\t"):
    path.write_text("".join(sep.join(str(v) for v in r) + "\n" for r in rows))
    return path


def _walk(ped, frames, x0=0.0, y0=0.0, vx=1.0, vy=0.0):
    return [(f, ped, x0 + vx * i, y0 + vy * i) for i, f in enumerate(frames)]


def test_read_tabs_and_spaces_sorted(tmp_path):
    rows = [(20.0, 2.0, 1.5, 2.5), (10.0, 1.0, 0.5, -1.0), (10.0, 2.0, 3.0, 4.0)]
    a = eth_ucy.read_trajectories(_write(tmp_path / "a.txt", rows))
    (tmp_path / "b.txt").write_text("20 2   1.5 2.5\n\n10  1 0.5 -1.0\n10 2 3 4\n")
    b = eth_ucy.read_trajectories(tmp_path / "b.txt")
    expected = np.array([[10, 1, 0.5, -1.0], [10, 2, 3, 4], [20, 2, 1.5, 2.5]])
    np.testing.assert_array_equal(a, expected)
    np.testing.assert_array_equal(b, expected)
    assert a.dtype == np.float64


@pytest.mark.parametrize("text, line, what", [
    ("0\t1\t0.5\t1.0\n10\t1\t0.6\n", "line 2", "expected 4 fields"),
    ("0\t1\t0.5\t1.0\n10\t1\t0.6\t1.1\n20\t1\tabc\t1.2\n", "line 3", "expected numbers"),
    ("0.5\t1\t0.5\t1.0\n", "line 1", "whole numbers"),
    ("0\t1\tnan\t1.0\n", "line 1", "non-finite"),
    ("0\t1\t0.5\t1.0\n0\t2\t0.5\t1.0\n0\t1\t0.7\t1.0\n", "lines 1 and 3",
     "pedestrian 1 is annotated twice in frame 0"),
])
def test_malformed_files_name_the_line(tmp_path, text, line, what):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(eth_ucy.TrajectoryFormatError) as info:
        eth_ucy.read_trajectories(path)
    message = str(info.value)
    assert str(path) in message and line in message and what in message


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(eth_ucy.TrajectoryFormatError, match="no rows"):
        eth_ucy.read_trajectories(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError):
        eth_ucy.read_trajectories(tmp_path / "absent.txt")


def test_gap_splits_the_track_and_is_never_interpolated(tmp_path):
    # pedestrian 1 is seen at frames 0..240 except 100 and 110: two tracks, 10 and 13 frames
    frames = [f for f in range(0, 250, 10) if f not in (100, 110)]
    rows = _walk(1, frames) + _walk(2, range(0, 250, 10), y0=3.0)
    data = eth_ucy.read_trajectories(_write(tmp_path / "gap.txt", rows))
    tracks = eth_ucy.split_tracks(data)
    assert [(t.pedestrian, t.frames[0], t.frames.size) for t in tracks] == \
        [(1, 0, 10), (1, 120, 13), (2, 0, 25)]
    # 20-frame windows: pedestrian 1 has none across its gap, so no window has 2 pedestrians
    assert eth_ucy.make_windows(data, 8, 12).traj.shape == (0, 20, 2)
    alone = eth_ucy.make_windows(data, 8, 12, min_peds=1)
    assert set(alone.pedestrian.tolist()) == {2} and alone.traj.shape == (6, 20, 2)
    # with shorter windows both of pedestrian 1's tracks give windows, none over frames 100-110
    short = eth_ucy.make_windows(data, 4, 4, min_peds=1)
    p1 = short.pedestrian == 1
    spans = [(s, s + 70) for s in short.start[p1].tolist()]
    assert spans and all(not (a <= 100 <= b or a <= 110 <= b) for a, b in spans)
    # every window's positions are rows of the file (never invented)
    xs = set(np.round(data[data[:, 1] == 1, 2], 9).tolist())
    assert set(np.round(short.traj[p1][..., 0].ravel(), 9).tolist()) <= xs


def test_windows_follow_the_protocol(tmp_path):
    # frames 0..240 (25 frames): peds 1 and 2 throughout, ped 3 only frames 50..240 (20 frames)
    rows = (_walk(1, range(0, 250, 10)) + _walk(2, range(0, 250, 10), y0=2.0)
            + _walk(3, range(50, 250, 10), y0=5.0, vx=0.5))
    data = eth_ucy.read_trajectories(_write(tmp_path / "s.txt", rows))
    w = eth_ucy.make_windows(data, obs_len=8, pred_len=12)
    # 6 start frames (0..50) for peds 1, 2; ped 3 only at 50
    assert w.traj.shape == (13, 20, 2)
    assert w.start.tolist() == [0, 0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50, 50]
    assert w.group.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5]
    assert w.pedestrian[-3:].tolist() == [1, 2, 3]
    np.testing.assert_allclose(w.traj[1, :, 1], 2.0)
    np.testing.assert_allclose(w.traj[2, :, 0], np.arange(1, 21))  # ped 1 from frame 10
    ds = eth_ucy.TrajectoryWindows(w)
    obs, fut = ds.__getitems__(np.array([0, 12]))
    assert obs.shape == (2, 8, 2) and fut.shape == (2, 12, 2) and obs.dtype == np.float32
    np.testing.assert_allclose(fut[1, 0], [0.5 * 8, 5.0])
    # skip=2: windows start at every other annotated frame
    assert eth_ucy.make_windows(data, 8, 12, skip=2).start.tolist() == [0, 0, 20, 20, 40, 40]


def test_frame_step_is_inferred(tmp_path):
    rows = _walk(1, range(0, 60, 4)) + _walk(2, range(0, 60, 4), y0=1.0)
    data = eth_ucy.read_trajectories(_write(tmp_path / "fps.txt", rows))
    assert eth_ucy.frame_step(data) == 4
    assert eth_ucy.make_windows(data, 4, 4).traj.shape == (16, 8, 2)


def test_scene_names():
    assert [eth_ucy.scene_name(s) for s in ("zara01", "ZARA1", "crowds_zara02", "biwi_eth",
                                             "students003", "univ")] == \
        ["zara1", "zara1", "zara2", "eth", "univ", "univ"]
    with pytest.raises(ValueError, match="HOTEL scene is not in this data"):
        eth_ucy.scene_name("hotel")
    with pytest.raises(ValueError, match="unknown test scene 'mars'"):
        eth_ucy.scene_name("mars")


def test_find_root(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPWISE_DATA", raising=False)
    with pytest.raises(eth_ucy.DatasetNotFoundError, match="DEEPWISE_DATA is not set"):
        eth_ucy.find_root()
    base = tmp_path / "eth-ucy"
    for d in ("all_data", "train", "val"):
        (base / d).mkdir(parents=True)
    monkeypatch.setenv("DEEPWISE_DATA", str(tmp_path))
    assert eth_ucy.find_root() == base
    assert eth_ucy.find_root(base) == base
    with pytest.raises(eth_ucy.DatasetNotFoundError, match="all_data/, train/ and val/"):
        eth_ucy.find_root(tmp_path / "nowhere")


def test_load_fold_leaves_one_scene_out(tmp_path):
    base = tmp_path / "eth-ucy"
    stems = [s for v in eth_ucy.SCENES.values() for s in v] + list(eth_ucy.TRAIN_ONLY)
    for i, stem in enumerate(stems):
        for folder, suffix, n in (("all_data", "", 30), ("train", "_train", 24),
                                  ("val", "_val", 21)):
            (base / folder).mkdir(parents=True, exist_ok=True)
            rows = _walk(1, range(0, 10 * n, 10), x0=i) + _walk(2, range(0, 10 * n, 10), x0=i,
                                                                 y0=1.0)
            _write(base / folder / f"{stem}{suffix}.txt", rows)
    fold = eth_ucy.load_fold("univ", root=base)
    assert fold["test"].windows.scenes == ["students001", "students003"]
    assert "students001_train" not in fold["train"].windows.scenes
    assert fold["train"].windows.scenes == [f"{s}_train" for s in stems if "students" not in s]
    # 2 pedestrians x (n - 19) start frames per file; 5 training scenes
    assert len(fold["test"]) == 2 * 2 * 11 and len(fold["train"]) == 5 * 2 * 5
    assert len(fold["val"]) == 5 * 2 * 2
    # groups stay separate across files
    assert int(fold["train"].windows.group.max()) + 1 == 5 * 5
    (base / "val" / "uni_examples_val.txt").unlink()
    with pytest.raises(FileNotFoundError, match="uni_examples_val"):
        eth_ucy.load_fold("eth", root=base)


def test_constant_velocity_matches_the_data_readme():
    """The README's constant-velocity ADE/FDE on all 20-frame windows of each scene's all_data
    (two decimals), and Social GAN's protocol (windows with >1 pedestrian) on top."""
    root = shared_data("eth-ucy")
    readme = {"eth": (1.08, 2.28), "univ": (0.52, 1.17), "zara1": (0.43, 0.95),
              "zara2": (0.32, 0.72)}
    for scene, stems in eth_ucy.SCENES.items():
        rows = [eth_ucy.read_trajectories(root / "all_data" / f"{s}.txt") for s in stems]
        for min_peds in (1, 2):
            w = eth_ucy.Windows.concat([eth_ucy.make_windows(r, min_peds=min_peds) for r in rows])
            pred = constant_velocity(w.traj[:, :8], 12)
            a, f = tm.ade(pred, w.traj[:, 8:]), tm.fde(pred, w.traj[:, 8:])
            if min_peds == 1:
                assert (round(a, 2), round(f, 2)) == readme[scene], scene
            else:  # the protocol drops lone walkers: ETH's figure moves, the others barely
                assert abs(a - readme[scene][0]) < (0.1 if scene == "eth" else 0.01), scene
    fold = eth_ucy.load_fold("eth", root=root)
    assert len(fold["test"]) == 181 and len(fold["train"]) > 10 * len(fold["test"])
