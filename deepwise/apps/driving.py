"""From camera frames to forecast paths: the multi-camera perception pipeline of the seed ("a
CNN can process the live feed from multiple cameras and identify objects on the road, while an
RNN can use the extracted features to predict the future movements of those objects").

Per frame of a scene (rendered from its trajectory file by ``deepwise.data.render``):

1. **detect**: each camera's picture through the CenterNet (``apps.detection``) -> boxes;
2. **back-project**: each box's foot point (bottom centre) along the camera's ray to the
   ground plane -> metres (:func:`ground_points`);
3. **fuse**: points from different cameras closer than ``radius`` are one person, averaged
   (:func:`fuse`);
4. **track**: a constant-velocity Kalman filter per track (state x, y, vx, vy; one step per
   annotated frame) predicts where each track is now; predictions and fused points are paired
   by ``scipy.optimize.linear_sum_assignment`` on the Mahalanobis distance, pairs beyond the
   chi-square gate (99%, 2 dof) refused; unpaired points start tentative tracks, a track is
   confirmed after ``min_hits`` hits and ended after ``max_misses`` misses (:class:`Tracker`);
5. **forecast**: a confirmed track with 8 filtered positions goes to the trajectory forecaster
   (``apps.trajectory``) -> 12 future positions; a shorter track waits (its status says so).

Scored against the scene's truth: detection AP per camera image, tracking MOTA and identity
switches (CLEAR MOT, ground-plane distance 1 m), and the forecaster's ADE/FDE from the tracked
histories beside the same forecaster from the true histories of the same people at the same
moments - the cost of perception::

    deepwise drive --scene crowds_zara01.txt --detector runs/det/detector.safetensors \\
        --forecaster runs/traj-zara1/lstm.safetensors --out runs/drive

The seed's RNN "uses the extracted features": :func:`appearance_features` reads the frozen
detector's neck features at each person's box centre (in the camera that sees them best), and
``deepwise train forecaster-features`` (:func:`feature_experiment`) trains the trajectory LSTM
with those vectors beside the positions (``TrajectoryLSTM(features=F)``) and without, same
seed and epochs, the features taken from frames rendered from the training scenes only, and
scores both on the held-out scene::

    deepwise train forecaster-features --detector runs/det/detector.safetensors \\
        --out runs/feat --epochs 5 --seeds 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..data.datasets import eth_ucy
from ..data.render import CalibrationError, Camera, SceneRenderer
from ..io import atomic_path, atomic_write
from ..models.detection import CenterNet
from ..models.trajectory import TrajectoryLSTM, constant_velocity
from ..tensor import Tensor
from ..train import detection_metrics as dm
from ..train import trajectory_metrics as tm
from ._commands import CommandError, register, train_parsers
from .detection import TEST_SEED, load_detector
from .trajectory import load_forecaster, train_forecaster

__all__ = ["ground_points", "fuse", "Track", "Tracker", "clear_mot", "run_pipeline",
           "write_gif", "appearance_features", "window_features", "train_feature_forecaster",
           "feature_experiment", "add_commands"]

GATE = 9.21  # chi-square, 2 degrees of freedom, 99%


def ground_points(camera: Camera, boxes: Any) -> np.ndarray:
    """Each box's foot point (bottom centre) on the ground plane, ``(K, 2)`` metres; a box
    whose foot is at or above the horizon is dropped (its ray never meets the ground)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    g = camera.back_project((b[:, 0] + b[:, 2]) / 2, b[:, 3])
    return g[np.isfinite(g).all(1)]


def fuse(points: list[np.ndarray], radius: float = 0.8) -> np.ndarray:
    """One point per person from several cameras' ground points (a list of ``(K_i, 2)``, any
    may be empty): greedily, each point gathers the nearest point of every other camera within
    ``radius`` metres, and the group is averaged."""
    pts = [np.asarray(p, np.float64).reshape(-1, 2) for p in points]
    cam = np.concatenate([np.full(len(p), i) for i, p in enumerate(pts)]) if pts else \
        np.zeros(0)
    allp = np.concatenate(pts) if pts else np.zeros((0, 2))
    used = np.zeros(len(allp), bool)
    out = []
    for i in range(len(allp)):
        if used[i]:
            continue
        group = [i]
        used[i] = True
        d = np.hypot(*(allp - allp[i]).T)
        for c in np.unique(cam):
            if c == cam[i]:
                continue
            cand = np.flatnonzero((cam == c) & ~used & (d < radius))
            if len(cand):
                j = cand[np.argmin(d[cand])]
                group.append(j)
                used[j] = True
        out.append(allp[group].mean(0))
    return np.array(out, np.float64).reshape(-1, 2)


@dataclass
class Track:
    """One tracked person: Kalman state ``x (4,)`` (x, y, vx, vy), covariance ``P (4, 4)``,
    ``history`` of filtered positions (one per frame since it began), hits and misses."""

    id: int
    x: np.ndarray
    P: np.ndarray
    hits: int = 1
    misses: int = 0
    history: list[np.ndarray] = field(default_factory=list)
    confirmed: bool = False


class Tracker:
    """Constant-velocity Kalman tracking on the ground plane with gated assignment.

    ``q``: process noise (acceleration, m per frame^2), ``r``: measurement noise (m),
    ``min_hits``: hits before a track is reported, ``max_misses``: frames without a hit before
    it ends.
    """

    F = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]], np.float64)
    H = np.eye(2, 4)

    def __init__(self, q: float = 0.15, r: float = 0.3, min_hits: int = 2,
                 max_misses: int = 3) -> None:
        g = np.array([[0.5, 0], [0, 0.5], [1, 0], [0, 1]])
        self.Q = q ** 2 * g @ g.T
        self.R = r ** 2 * np.eye(2)
        self.min_hits, self.max_misses = min_hits, max_misses
        self.tracks: list[Track] = []
        self._next = 1

    def step(self, points: Any) -> list[Track]:
        """Advance one frame with this frame's fused points ``(M, 2)``; the confirmed tracks
        seen (or predicted through a miss) now."""
        from scipy.optimize import linear_sum_assignment

        z = np.asarray(points, np.float64).reshape(-1, 2)
        for t in self.tracks:  # predict
            t.x = self.F @ t.x
            t.P = self.F @ t.P @ self.F.T + self.Q
        cost = np.full((len(self.tracks), len(z)), 1e6)
        for i, t in enumerate(self.tracks):
            s_inv = np.linalg.inv(self.H @ t.P @ self.H.T + self.R)
            d = z - t.x[:2]
            cost[i] = np.einsum("ij,jk,ik->i", d, s_inv, d)
        rows, cols = linear_sum_assignment(np.minimum(cost, 1e6)) if cost.size else ([], [])
        hit = {int(i): int(j) for i, j in zip(rows, cols) if cost[i, j] <= GATE}
        for i, t in enumerate(self.tracks):
            if i in hit:  # update
                s = self.H @ t.P @ self.H.T + self.R
                k = t.P @ self.H.T @ np.linalg.inv(s)
                t.x = t.x + k @ (z[hit[i]] - t.x[:2])
                t.P = (np.eye(4) - k @ self.H) @ t.P
                t.hits += 1
                t.misses = 0
                t.confirmed = t.confirmed or t.hits >= self.min_hits
            else:
                t.misses += 1
            t.history.append(t.x[:2].copy())
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses
                       and (t.confirmed or t.misses == 0)]
        taken = set(hit.values())
        for j in range(len(z)):
            if j not in taken:
                p = np.diag([self.R[0, 0], self.R[1, 1], 1.0, 1.0])
                self.tracks.append(Track(self._next, np.r_[z[j], 0.0, 0.0], p,
                                         history=[z[j].copy()],
                                         confirmed=self.min_hits <= 1))
                self._next += 1
        return [t for t in self.tracks if t.confirmed and t.misses == 0]


def clear_mot(truth: list[dict[int, np.ndarray]], tracks: list[dict[int, np.ndarray]],
              threshold: float = 1.0) -> dict[str, Any]:
    """CLEAR MOT over frames: ``truth[t]`` and ``tracks[t]`` map ids to ground positions.
    Per frame, a true person keeps last frame's track if it is still within ``threshold`` m;
    the rest are paired by Hungarian assignment on distance (within ``threshold``). Misses,
    false positives and identity switches (a person matched to another track than the last
    one it was matched to) give ``MOTA = 1 - (misses + fp + switches) / true objects``; the
    per-frame matches come back as ``matches[t] = {person: track}``."""
    from scipy.optimize import linear_sum_assignment

    last: dict[int, int] = {}
    misses = fps = switches = n_true = 0
    matches: list[dict[int, int]] = []
    for gt, hyp in zip(truth, tracks):
        n_true += len(gt)
        m: dict[int, int] = {}
        for p, k in last.items():  # keep matches that still hold
            if p in gt and k in hyp and k not in m.values() and \
                    np.hypot(*(gt[p] - hyp[k])) <= threshold:
                m[p] = k
        free_p = [p for p in gt if p not in m]
        free_k = [k for k in hyp if k not in m.values()]
        if free_p and free_k:
            d = np.array([[np.hypot(*(gt[p] - hyp[k])) for k in free_k] for p in free_p])
            for i, j in zip(*linear_sum_assignment(np.where(d <= threshold, d, 1e6))):
                if d[i, j] <= threshold:
                    m[free_p[i]] = free_k[j]
        for p, k in m.items():
            if p in last and last[p] != k:
                switches += 1
            last[p] = k
        misses += len(gt) - len(m)
        fps += len(hyp) - len(m)
        matches.append(m)
    mota = 1 - (misses + fps + switches) / n_true if n_true else float("nan")
    return {"mota": mota, "misses": misses, "false_positives": fps, "id_switches": switches,
            "true_objects": n_true, "matches": matches}


def _truth(views: list[Any], min_visible: float = 0.3) -> dict[int, np.ndarray]:
    """The people some camera sees well enough to demand (:meth:`Frame.split`'s rule)."""
    out: dict[int, np.ndarray] = {}
    for f in views:
        keep = (f.visible >= min_visible) & (f.boxes[:, 3] - f.boxes[:, 1] >= 6)
        for pid, xy in zip(f.ids[keep], f.feet[keep]):
            out[int(pid)] = xy
    return out


def run_pipeline(rows: np.ndarray, detector: CenterNet, forecaster: Any,
                 cameras: list[Camera] | None = None, *, seed: int = 0, start: int | None = None,
                 n_frames: int | None = None, threshold: float = 0.3, radius: float = 0.8,
                 detect: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the pipeline over a scene's frames (from ``start``, ``n_frames`` annotated-frame
    steps; frames nobody is annotated in are rendered empty). Returns ``(metrics, records)``:
    one record per frame with the camera images, detections, truth, tracks and forecasts (for
    :func:`write_gif`). ``detect``: instead of ``detector``, a function of a frame's camera
    views (:class:`~deepwise.data.render.Frame` list) giving ``(boxes, scores)`` per view
    (e.g. the true boxes, to measure what tracking loses when detection is perfect)."""
    renderer = SceneRenderer(rows, len(cameras) if cameras else 3, seed=seed, cameras=cameras)
    for c in renderer.cameras:
        if c.width % 16 or c.height % 16:
            raise CalibrationError(f"run_pipeline: image size {c.width}x{c.height} must be "
                                   "multiples of 16 for the detector")
    step = eth_ucy.frame_step(rows)
    first = int(renderer.frames[0]) if start is None else int(start)
    last = int(renderer.frames[-1])
    count = (last - first) // step + 1 if n_frames is None else int(n_frames)
    if count < 1 or first > last:
        raise ValueError(f"run_pipeline: no frames from {first} (the file has frames "
                         f"{int(renderer.frames[0])}..{last})")
    frames = first + step * np.arange(count)
    obs_len, pred_len = forecaster.obs_len, forecaster.pred_len
    tracker = Tracker()
    records: list[dict[str, Any]] = []
    det_boxes, det_scores, gt_boxes, gt_ignore = [], [], [], []
    for fr in frames:
        views = renderer.render(int(fr))
        dets = (detect(views) if detect is not None else
                detector.detect(np.stack([v.image for v in views]), threshold=0.05))
        for v, (b, s) in zip(views, dets):
            g, ig = v.split()
            det_boxes.append(b)
            det_scores.append(s)
            gt_boxes.append(g)
            gt_ignore.append(ig)
        kept = [b[s >= threshold] for b, s in dets]
        ground = [ground_points(c, b) for c, b in zip(renderer.cameras, kept)]
        fused = fuse(ground, radius)
        live = tracker.step(fused)
        forecasts, waiting = {}, {}
        ready = [t for t in live if len(t.history) >= obs_len]
        if ready:
            obs = np.stack([np.stack(t.history[-obs_len:]) for t in ready])
            pred = forecaster.predict(obs, np.zeros(len(ready), np.int64))
            forecasts = {t.id: p for t, p in zip(ready, pred)}
        for t in live:
            if len(t.history) < obs_len:
                waiting[t.id] = f"waiting: {len(t.history)}/{obs_len} positions observed"
        records.append({"frame": int(fr), "images": [v.image for v in views], "boxes": kept,
                        "truth": _truth(views), "ground": fused,
                        "tracks": {t.id: t.x[:2].copy() for t in live},
                        "histories": {t.id: np.stack(t.history[-obs_len:]) for t in live},
                        "forecasts": forecasts, "waiting": waiting})
    mot = clear_mot([r["truth"] for r in records], [r["tracks"] for r in records])
    ap = dm.coco_ap(det_boxes, det_scores, gt_boxes, gt_ignore)
    metrics = {"frames": len(frames), "cameras": len(renderer.cameras), "ap50": ap["ap50"],
               "ap": ap["ap"], "calibration": [c.to_dict() for c in renderer.cameras],
               **{k: v for k, v in mot.items() if k != "matches"}}
    metrics.update(_forecast_cost(rows, records, mot["matches"], forecaster, step, obs_len,
                                  pred_len))
    return metrics, records


def _forecast_cost(rows: np.ndarray, records: list[dict[str, Any]], matches: list[dict],
                   forecaster: Any, step: int, obs_len: int, pred_len: int) -> dict[str, Any]:
    """ADE/FDE of the forecaster from tracked histories vs from the true histories, over the
    same (person, frame) pairs: the person matched to a track with a forecast, with
    ``obs_len`` true positions up to the frame and ``pred_len`` after it."""
    by_ped: dict[int, dict[int, np.ndarray]] = {}
    for f, p, x, y in rows:
        by_ped.setdefault(int(p), {})[int(f)] = np.array([x, y])
    tracked, true_hist, future, moment = [], [], [], []
    for t, (rec, m) in enumerate(zip(records, matches)):
        fr = rec["frame"]
        for p, k in m.items():
            if k not in rec["forecasts"]:
                continue
            pos = by_ped.get(p, {})
            past = [pos.get(fr - step * i) for i in range(obs_len - 1, -1, -1)]
            fut = [pos.get(fr + step * i) for i in range(1, pred_len + 1)]
            if any(v is None for v in past + fut):
                continue
            tracked.append(rec["forecasts"][k])
            true_hist.append(np.stack(past))
            future.append(np.stack(fut))
            moment.append(t)
    if not tracked:
        nan = float("nan")
        return {"forecasts_scored": 0, "ade_tracked": nan, "fde_tracked": nan,
                "ade_true_history": nan, "fde_true_history": nan}
    fut = np.stack(future)
    # the same people, grouped by frame as the tracked forecasts were (a social model looks
    # at the others of its moment)
    from_true = forecaster.predict(np.stack(true_hist), np.array(moment, np.int64))
    pt = np.stack(tracked)
    return {"forecasts_scored": len(tracked), "ade_tracked": tm.ade(pt, fut),
            "fde_tracked": tm.fde(pt, fut), "ade_true_history": tm.ade(from_true, fut),
            "fde_true_history": tm.fde(from_true, fut)}


# --------------------------------------------------------------------------------------------
# the detector's features for the forecaster


def appearance_features(detector: CenterNet, renderer: SceneRenderer, frames: Iterable[int],
                        batch_size: int = 48, min_visible: float = 0.3
                        ) -> dict[int, dict[int, np.ndarray]]:
    """``{frame: {pedestrian id: vector (feature_channels + 1,)}}``: the frozen detector's
    features (:meth:`CenterNet.features`) at the centre cell of the person's box, in the
    camera that sees them best (the largest visible fraction x box height among views where
    at least ``min_visible`` of them shows), then a 1 (seen). People no camera sees that well
    are absent."""
    frames = [int(f) for f in frames]
    n_cam = len(renderer.cameras)
    out: dict[int, dict[int, np.ndarray]] = {}
    detector.eval()
    per = max(1, batch_size // n_cam)
    for i in range(0, len(frames), per):
        chunk = frames[i:i + per]
        views = [v for f in chunk for v in renderer.render(f)]
        if not views:
            continue
        with no_grad():
            fmap = detector.features(Tensor(np.stack([v.image for v in views]))).data
        _, _, h, w = fmap.shape
        for j, f in enumerate(chunk):
            best: dict[int, tuple[float, np.ndarray]] = {}
            for c in range(n_cam):
                v = views[j * n_cam + c]
                for pid, box, vis in zip(v.ids, v.boxes, v.visible):
                    score = float(vis) * float(box[3] - box[1])
                    if vis < min_visible or score <= best.get(int(pid), (0.0, None))[0]:
                        continue
                    cx = min(max(int((box[0] + box[2]) / 2 / detector.stride), 0), w - 1)
                    cy = min(max(int((box[1] + box[3]) / 2 / detector.stride), 0), h - 1)
                    best[int(pid)] = (score, np.r_[fmap[j * n_cam + c, :, cy, cx], 1.0])
            out[f] = {pid: vec.astype(np.float32) for pid, (_, vec) in best.items()}
    return out


def window_features(windows: eth_ucy.Windows, steps: list[int],
                    features: list[dict[int, dict[int, np.ndarray]]], size: int) -> np.ndarray:
    """The per-position features of windows: ``(N, obs_len, size)``, window ``i``'s pedestrian
    at frames ``start + k * steps[scene]`` looked up in ``features[scene]``
    (:func:`appearance_features`); zeros where nobody saw them (the last entry, "seen", is 0
    there)."""
    n, t = len(windows.start), windows.obs_len
    out = np.zeros((n, t, size), np.float32)
    for i, (sc, start, ped) in enumerate(zip(windows.scene, windows.start, windows.pedestrian)):
        table = features[int(sc)]
        for k in range(t):
            vec = table.get(int(start) + k * steps[int(sc)], {}).get(int(ped))
            if vec is not None:
                out[i, k] = vec
    return out


def train_feature_forecaster(model: TrajectoryLSTM, train: eth_ucy.TrajectoryWindows,
                             features: np.ndarray | None = None, *, epochs: int = 5,
                             batch_size: int = 64, lr: float = 2e-3, clip: float = 1.0,
                             seed: int = 0, log: Callable[[str], None] | None = print
                             ) -> dict[str, Any]:
    """A non-social LSTM trained by ``apps.trajectory.train_forecaster`` (ADE loss in metres,
    Adam on a cosine over ``epochs``, gradient clipping; the last epoch's weights), with
    per-position ``features (N, obs_len, F)`` beside the positions when the model takes them.
    Each window is turned by a random angle but never mirrored (a mirror swaps left and right
    turns, which features that are not mirrored with it could tell apart), with or without
    features alike. Returns the history."""
    if model.social:
        raise ValueError("train_feature_forecaster: a social model is trained by "
                         "apps.trajectory.train_forecaster")
    return train_forecaster(model, train, None, epochs=epochs, batch_size=batch_size, lr=lr,
                            clip=clip, features=features, mirror=False, seed=seed, log=log)


def _scene_features(detector: CenterNet, files: list[Any], seed: int,
                    log: Callable[[str], None] | None) -> tuple[list[dict], list[int]]:
    tables, steps = [], []
    for i, path in enumerate(files):
        rows = eth_ucy.read_trajectories(path)
        renderer = SceneRenderer(rows, 3, seed=seed + 100 * i)
        t0 = time.perf_counter()
        tables.append(appearance_features(detector, renderer, renderer.frames))
        steps.append(eth_ucy.frame_step(rows))
        if log:
            log(f"  {os.path.basename(str(path))}: {len(renderer.frames)} frames x 3 cameras, "
                f"{time.perf_counter() - t0:.0f} s")
    return tables, steps


def feature_experiment(detector: CenterNet, test_scene: str = "zara1", root: Any = None, *,
                       epochs: int = 5, seeds: Iterable[int] = (0, 1), embed_size: int = 32,
                       hidden_size: int = 64, log: Callable[[str], None] | None = print
                       ) -> dict[str, Any]:
    """Does the detector's appearance help the forecaster? The fold of ``test_scene``: the
    training windows' features from frames of the training files rendered by 3 cameras
    (seeds 0, 100, ...), the held-out scene's from its own rigs (``TEST_SEED``); features
    standardised by the training set's statistics (the "seen" entry kept as 0/1). For each
    seed a non-social :class:`TrajectoryLSTM` with and one without features (the same
    initial weights: the feature layer starts at zero), trained alike; ADE/FDE on the held-out
    windows. Returns ``{"runs": {seed: {"positions": (ade, fde), "positions + features":
    ...}}, "mean": ..., "constant velocity": ..., "seen": fraction of positions seen}``."""
    fold = eth_ucy.load_fold(test_scene, root=root)
    base = eth_ucy.find_root(root)
    train_files = [base / "train" / f"{s}.txt" for s in fold["train"].windows.scenes]
    test_files = [base / "all_data" / f"{s}.txt" for s in fold["test"].windows.scenes]
    size = detector.feature_channels + 1
    if log:
        log(f"features ({size} per position) of the training scenes:")
    tables, steps = _scene_features(detector, train_files, 0, log)
    f_train = window_features(fold["train"].windows, steps, tables, size)
    if log:
        log("features of the held-out scene:")
    tables, steps = _scene_features(detector, test_files, TEST_SEED, log)
    f_test = window_features(fold["test"].windows, steps, tables, size)
    seen = f_train[..., -1] > 0
    mean, std = f_train[seen][:, :-1].mean(0), f_train[seen][:, :-1].std(0) + 1e-6
    for f in (f_train, f_test):
        f[..., :-1] = np.where(f[..., -1:] > 0, (f[..., :-1] - mean) / std, 0.0)
    obs, fut = fold["test"].observed.astype(np.float64), fold["test"].future.astype(np.float64)
    cv = constant_velocity(obs, fut.shape[1])
    result: dict[str, Any] = {"train_windows": len(fold["train"]),
                              "test_windows": len(fold["test"]), "epochs": int(epochs),
                              "features": size, "seen_train": float(seen.mean()),
                              "seen_test": float((f_test[..., -1] > 0).mean()),
                              "constant velocity": (tm.ade(cv, fut), tm.fde(cv, fut)),
                              "runs": {}}
    for seed in seeds:
        row = {}
        for name, feats in (("positions", None), ("positions + features", f_train)):
            backend.manual_seed(seed)
            model = TrajectoryLSTM(embed_size=embed_size, hidden_size=hidden_size,
                                   features=0 if feats is None else size)
            if log:
                log(f"seed {seed}, {name}:")
            hist = train_feature_forecaster(model, fold["train"], feats, epochs=epochs,
                                            seed=seed, log=log)
            pred = model.predict(obs, features=None if feats is None else f_test)
            row[name] = (tm.ade(pred, fut), tm.fde(pred, fut), hist["seconds"][-1])
        result["runs"][int(seed)] = row
    names = ("positions", "positions + features")
    result["mean"] = {n: tuple(float(np.mean([r[n][j] for r in result["runs"].values()]))
                               for j in range(2)) for n in names}
    return result


def cmd_features(args: argparse.Namespace) -> int:
    if args.epochs < 1 or args.seeds < 1:
        raise CommandError(f"--epochs and --seeds must be at least 1, got {args.epochs}, "
                           f"{args.seeds}")
    detector, _ = load_detector(args.detector)
    try:
        result = feature_experiment(detector, args.test_scene, args.data, epochs=args.epochs,
                                    seeds=range(args.seed, args.seed + args.seeds))
    except eth_ucy.DatasetNotFoundError as e:
        raise CommandError(f"{e}; or pass --data DIR") from None
    os.makedirs(args.out, exist_ok=True)
    with atomic_write(os.path.join(args.out, "results.json")) as f:
        json.dump({**result, "args": {k: v for k, v in vars(args).items() if k != "func"}}, f,
                  indent=1, default=float)
    print(f"\nheld-out {args.test_scene}: {result['test_windows']} windows "
          f"({result['seen_test']:.0%} of positions seen by a camera), ADE / FDE in metres "
          f"after {args.epochs} epochs:")
    print(f"  constant velocity      {result['constant velocity'][0]:.3f} / "
          f"{result['constant velocity'][1]:.3f}")
    for seed, row in result["runs"].items():
        for name, (ade, fde, _) in row.items():
            print(f"  seed {seed}: {name:22s} {ade:.3f} / {fde:.3f}")
    for name, (ade, fde) in result["mean"].items():
        print(f"  mean: {name:22s} {ade:.3f} / {fde:.3f}")
    return 0


# --------------------------------------------------------------------------------------------
# picture


def _colour(i: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(i * 7919 + 1)
    return tuple(int(c) for c in rng.integers(60, 256, 3))


def write_gif(path: str | os.PathLike, records: list[dict[str, Any]], scale: int = 2,
              map_size: int = 256, duration_ms: int = 200) -> None:
    """An animated GIF: the camera views with their detections (white) side by side, and a
    bird's-eye map (the truth grey, each track its colour with its last positions, forecasts
    as lines). Written atomically."""
    from PIL import Image, ImageDraw

    if not records:
        raise ValueError("write_gif: no frames to draw")
    # the map spans the people (true and tracked), not a forecast that runs far off
    pts = [p for r in records for p in (*r["truth"].values(), *r["tracks"].values())]
    allp = np.array(pts).reshape(-1, 2) if pts else np.zeros((1, 2))
    lo, hi = allp.min(0) - 1, allp.max(0) + 1
    span = float(max(hi - lo))

    def to_map(p: np.ndarray) -> tuple[float, float]:
        q = (np.asarray(p) - lo) / span * (map_size - 8) + 4
        return float(q[0]), float(map_size - q[1])

    pictures = []
    for r in records:
        views = []
        for img, boxes in zip(r["images"], r["boxes"]):
            im = Image.fromarray((img.transpose(1, 2, 0) * 255).astype(np.uint8))
            im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
            d = ImageDraw.Draw(im)
            for b in boxes:
                d.rectangle([float(v) * scale for v in b], outline=(255, 255, 255))
            views.append(im)
        w = sum(v.width for v in views)
        h = max(max(v.height for v in views), map_size)
        canvas = Image.new("RGB", (w + map_size, h), (20, 20, 20))
        x = 0
        for v in views:
            canvas.paste(v, (x, 0))
            x += v.width
        d = ImageDraw.Draw(canvas)
        ox = w
        for p in r["truth"].values():
            cx, cy = to_map(p)
            d.ellipse([ox + cx - 2, cy - 2, ox + cx + 2, cy + 2], outline=(140, 140, 140))
        for k, p in r["tracks"].items():
            c = _colour(k)
            hist = [to_map(q) for q in r["histories"][k]]
            if len(hist) > 1:
                d.line([(ox + a, b) for a, b in hist], fill=c, width=1)
            cx, cy = to_map(p)
            d.ellipse([ox + cx - 3, cy - 3, ox + cx + 3, cy + 3], fill=c)
            if k in r["forecasts"]:
                f = [to_map(q) for q in np.r_[p[None], r["forecasts"][k]]]
                d.line([(ox + a, b) for a, b in f], fill=(255, 80, 80), width=2)
        d.text((ox + 4, 4), f"frame {r['frame']}", fill=(255, 255, 255))
        pictures.append(canvas.convert("P", palette=Image.ADAPTIVE, colors=128))
    with atomic_path(path) as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=duration_ms, loop=0)


# --------------------------------------------------------------------------------------------
# command


def _cameras(path: str | None) -> list[Camera] | None:
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise CalibrationError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, list) or not data:
        raise CalibrationError(f"{path}: expected a JSON list of camera calibrations")
    return [Camera.from_dict(c, f"{path}, camera {i}") for i, c in enumerate(data)]


def cmd_drive(args: argparse.Namespace) -> int:
    rows = eth_ucy.read_trajectories(args.scene)
    cameras = _cameras(args.cameras)
    detector, _ = load_detector(args.detector)
    forecaster, _ = load_forecaster(args.forecaster)
    if args.frames is not None and args.frames < 1:
        raise CommandError(f"--frames must be at least 1, got {args.frames}")
    metrics, records = run_pipeline(rows, detector, forecaster, cameras, seed=args.seed,
                                    start=args.start, n_frames=args.frames,
                                    threshold=args.threshold)
    os.makedirs(args.out, exist_ok=True)
    write_gif(os.path.join(args.out, "drive.gif"), records)
    metrics["scene"] = os.path.basename(args.scene)
    with atomic_write(os.path.join(args.out, "metrics.json")) as f:
        json.dump(metrics, f, indent=1, default=lambda v: None if isinstance(v, float)
                  and math.isnan(v) else float(v))
    print(f"{metrics['scene']}: {metrics['frames']} frames x {metrics['cameras']} cameras")
    print(f"  detection AP@0.5 {metrics['ap50']:.3f}  AP@0.5:0.95 {metrics['ap']:.3f}")
    print(f"  tracking MOTA {metrics['mota']:.3f}  ID switches {metrics['id_switches']}  "
          f"misses {metrics['misses']}  false positives {metrics['false_positives']}")
    print(f"  forecast ({metrics['forecasts_scored']} scored) ADE tracked "
          f"{metrics['ade_tracked']:.3f} m vs true history {metrics['ade_true_history']:.3f} m; "
          f"FDE {metrics['fde_tracked']:.3f} vs {metrics['fde_true_history']:.3f} m")
    print(f"wrote {os.path.join(args.out, 'drive.gif')} and metrics.json")
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise drive``."""
    p = subparsers.add_parser(
        "drive", help="cameras -> detections -> ground plane -> tracks -> forecasts, on a scene",
        description="Render a trajectory file (ETH/UCY format) through virtual cameras, detect "
                    "people in every view, back-project and fuse them on the ground, track them "
                    "(Kalman + gated assignment) and forecast each track; write drive.gif and "
                    "metrics.json (AP, MOTA, ID switches, ADE/FDE tracked vs true history).")
    p.add_argument("--scene", required=True, help="a trajectory file (frame ped x y)")
    p.add_argument("--detector", required=True, help="a checkpoint of 'deepwise train detector'")
    p.add_argument("--forecaster", required=True,
                   help="a checkpoint of 'deepwise train trajectory'")
    p.add_argument("--out", required=True, help="folder for drive.gif and metrics.json")
    p.add_argument("--cameras", default=None, help="a JSON list of calibrations (position "
                   "[x, y, height], yaw, pitch, focal, width, height); default: 3 placed")
    p.add_argument("--start", type=int, default=None, help="first frame id (default: first)")
    p.add_argument("--frames", type=int, default=100, help="how many frames to run")
    p.add_argument("--threshold", type=float, default=0.3, help="detection score threshold")
    p.add_argument("--seed", type=int, default=0, help="camera placement and rendering seed")
    register(p, cmd_drive)
    p = train_parsers(subparsers).add_parser(
        "forecaster-features", help="the trajectory LSTM with and without the detector's "
        "features of each person",
        description="Train a non-social trajectory LSTM with the frozen detector's per-person "
                    "features (rendered frames of the training scenes) beside the positions, "
                    "and without, same seeds and epochs; print ADE/FDE on the held-out scene.")
    p.add_argument("--detector", required=True, help="a checkpoint of 'deepwise train detector'")
    p.add_argument("--out", required=True, help="folder for results.json")
    p.add_argument("--test-scene", default="zara1", help="held-out scene (as the detector's)")
    p.add_argument("--data", default=None, help="the ETH/UCY folder; default $DEEPWISE_DATA")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", type=int, default=2, help="seeds per variant")
    p.add_argument("--seed", type=int, default=0, help="the first seed")
    register(p, cmd_features)
