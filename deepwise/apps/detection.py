"""Pedestrian detection: a CenterNet (``deepwise.models.detection``) trained on camera frames
rendered from real motion (``deepwise.data.render`` over the ETH/UCY scenes), scored by COCO AP
on the frames of a scene it never saw.

The recipe: every batch is freshly rendered (a random training scene, one of its camera rigs, a
random frame, a random camera; mirrored with probability 1/2), so no two batches repeat.
Targets at the model's stride (2 by default; 4 is CenterNet's own): a Gaussian bump at every
box centre (CenterNet's radius: the shift that keeps IoU >= 0.7) on the heatmap, the box size
and the centre's sub-cell offset at the centre cell. Loss = focal(heatmap) + L1(offset) + 0.1
L1(size). Adam, the learning rate on a cosine over the wall-clock budget. The held-out scene
(``--test-scene``, default zara1) is only ever rendered for evaluation, with its own camera
rigs::

    deepwise train detector --out runs/det --minutes 20
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend, models, optim
from ..data.datasets import eth_ucy
from ..data.render import Frame, SceneRenderer
from ..io import atomic_write, save_model
from ..models.detection import CenterNet
from ..nn import functional as F
from ..ops.focal import focal_heatmap_loss
from ..tensor import Tensor
from ..train import detection_metrics as dm
from ._commands import CommandError, register, train_parsers

__all__ = ["gaussian_radius", "make_targets", "detection_loss", "FrameSource", "scene_files",
           "test_frames", "train_detector", "evaluate_detector", "load_detector", "add_commands"]

MODEL_NAME = "centernet"
TEST_SEED = 10_000  # camera rigs of the held-out scene: seeds never used in training


def gaussian_radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """How far (cells) a centre may be off and still give a box of IoU >= ``min_overlap``
    with the true one: the shift ``r`` along both axes where ``(w - r)(h - r) / (2 w h -
    (w - r)(h - r)) = t``, the smaller root of ``r^2 - (w + h) r + w h (1 - 2t / (1 + t))``
    (the first of CornerNet's three cases, with the root's sign as the algebra has it)."""
    b = h + w
    c = w * h * (1 - 2 * min_overlap / (1 + min_overlap))
    return (b - math.sqrt(max(b * b - 4 * c, 0.0))) / 2


def make_targets(boxes: list[np.ndarray], shape: tuple[int, int], stride: int = 4,
                 ignore: list[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Training targets of a batch of images ``shape`` (H, W) pixels: ``heatmap (N, 1, h, w)``
    (1 at each centre cell, a Gaussian bump around it; an ignored box's bump peaks at 0.99, so
    its centre is neither a positive nor penalised), and for the ``K`` centres ``batch``,
    ``cell`` (flat index y * w + x), ``size (K, 2)`` and ``offset (K, 2)`` in cells."""
    h, w = shape[0] // stride, shape[1] // stride
    heat = np.zeros((len(boxes), 1, h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    batch, cell, size, offset = [], [], [], []
    for n in range(len(boxes)):
        sets = [(boxes[n], 1.0)] + ([(ignore[n], 0.99)] if ignore is not None else [])
        for bxs, peak in sets:
            for x1, y1, x2, y2 in np.asarray(bxs, np.float64).reshape(-1, 4):
                bw, bh = (x2 - x1) / stride, (y2 - y1) / stride
                if bw <= 0 or bh <= 0:
                    continue
                c = np.array([(x1 + x2) / 2, (y1 + y2) / 2]) / stride
                ci = np.minimum(np.floor(c).astype(np.int64), [w - 1, h - 1])
                r = max(0, int(gaussian_radius(bh, bw)))
                sigma = (2 * r + 1) / 6
                bump = np.exp(-((xx - ci[0]) ** 2 + (yy - ci[1]) ** 2) / (2 * sigma ** 2))
                bump[ci[1], ci[0]] = 1.0
                np.maximum(heat[n, 0], peak * bump, out=heat[n, 0])
                if peak == 1.0:
                    batch.append(n)
                    cell.append(ci[1] * w + ci[0])
                    size.append([bw, bh])
                    offset.append(c - ci)
    return {"heatmap": heat, "batch": np.array(batch, np.int64),
            "cell": np.array(cell, np.int64), "size": np.array(size, np.float32).reshape(-1, 2),
            "offset": np.array(offset, np.float32).reshape(-1, 2)}


def _at_centres(pred: Tensor, targets: dict[str, np.ndarray]) -> Tensor:
    """``pred (N, 2, h, w)`` read at the centre cells -> ``(K, 2)``."""
    n, c, h, w = pred.shape
    return pred.reshape(n, c, h * w).permute(0, 2, 1)[targets["batch"], targets["cell"]]


def detection_loss(out: dict[str, Tensor], targets: dict[str, np.ndarray],
                   size_weight: float = 0.1) -> tuple[Tensor, dict[str, float]]:
    """focal(heatmap) + L1(offset) + ``size_weight`` L1(size), the L1s averaged over centres;
    and the three parts as floats."""
    focal = focal_heatmap_loss(out["heatmap"], targets["heatmap"])
    k = max(len(targets["cell"]), 1)
    if len(targets["cell"]):
        off = F.l1_loss(_at_centres(out["offset"], targets), targets["offset"],
                        reduction="sum") / (2 * k)
        size = F.l1_loss(_at_centres(out["size"], targets), targets["size"],
                         reduction="sum") / (2 * k)
        loss = focal + off + size_weight * size
        parts = {"focal": float(focal.data), "offset": float(off.data), "size": float(size.data)}
    else:
        loss = focal
        parts = {"focal": float(focal.data), "offset": 0.0, "size": 0.0}
    return loss, parts


def scene_files(root: str | os.PathLike | None, test_scene: str) -> tuple[list[Path], list[Path]]:
    """``(training files, test files)`` of ``all_data/``: the held-out scene's files and every
    other scene's."""
    key = eth_ucy.scene_name(test_scene)
    folder = eth_ucy.find_root(root) / "all_data"
    files = sorted(folder.glob("*.txt"))
    test = [f for f in files if f.stem in eth_ucy.SCENES[key]]
    train = [f for f in files if f.stem not in eth_ucy.SCENES[key]]
    if not test or not train:
        raise FileNotFoundError(f"{folder}: expected the files of scene {key!r} and of others")
    return train, test


class FrameSource:
    """Random rendered frames of some scenes: ``rigs`` camera placements per scene (made when
    first drawn), any frame, any camera."""

    def __init__(self, files: list[Path], rigs: int = 16, seed: int = 0, n_cameras: int = 3,
                 width: int = 128, height: int = 96) -> None:
        self.rows = [eth_ucy.read_trajectories(f) for f in files]
        self.rigs, self.seed, self.n_cameras = rigs, seed, n_cameras
        self.size = (width, height)
        self._cache: dict[tuple[int, int], SceneRenderer] = {}
        self.rng = np.random.default_rng(seed)

    def renderer(self, scene: int, rig: int) -> SceneRenderer:
        key = (scene, rig)
        if key not in self._cache:
            self._cache[key] = SceneRenderer(self.rows[scene], self.n_cameras,
                                             seed=self.seed * 1000 + scene * 100 + rig,
                                             width=self.size[0], height=self.size[1])
        return self._cache[key]

    def batch(self, n: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """``(images (n, 3, H, W), boxes, ignored boxes)``, each image mirrored with
        probability 1/2."""
        images, boxes, ignore = [], [], []
        for _ in range(n):
            r = self.renderer(int(self.rng.integers(len(self.rows))),
                              int(self.rng.integers(self.rigs)))
            fr = int(self.rng.choice(r.frames))
            frame = r.render_camera(fr, int(self.rng.integers(len(r.cameras))))
            img, (det, ign) = frame.image, frame.split()
            if self.rng.random() < 0.5:
                w = img.shape[2]
                img = img[:, :, ::-1]
                det, ign = (np.c_[w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]] for b in (det, ign))
            images.append(img)
            boxes.append(det)
            ignore.append(ign)
        return np.ascontiguousarray(np.stack(images)), boxes, ignore


def test_frames(files: list[Path], n_frames: int = 60, rigs: int = 2, n_cameras: int = 3
                ) -> list[Frame]:
    """The held-out frames: ``n_frames`` frames evenly spread over each file, seen by every
    camera of ``rigs`` placements (seeds from ``TEST_SEED``)."""
    out: list[Frame] = []
    for i, f in enumerate(files):
        rows = eth_ucy.read_trajectories(f)
        for rig in range(rigs):
            r = SceneRenderer(rows, n_cameras, seed=TEST_SEED + 100 * i + rig)
            pick = r.frames[np.linspace(0, len(r.frames) - 1, n_frames).astype(np.int64)]
            for fr in pick:
                out += r.render(int(fr))
    return out


def evaluate_detector(model: CenterNet, frames: list[Frame], threshold: float = 0.05,
                      flip: bool = False) -> dict[str, float]:
    """COCO AP (``ap50``, ``ap75``, ``ap`` = 0.5:0.95) of ``model`` on ``frames``, the ignored
    figures (too hidden or small) neither required nor counted as false positives; ``flip``:
    with the flip test (:meth:`CenterNet.detect`)."""
    if not frames:
        raise ValueError("evaluate_detector: no frames")
    dets = model.detect(np.stack([f.image for f in frames]), threshold=threshold, flip=flip)
    gts, ign = zip(*(f.split() for f in frames))
    out = dm.coco_ap([d[0] for d in dets], [d[1] for d in dets], list(gts), list(ign))
    out["frames"] = len(frames)
    out["boxes"] = int(sum(len(g) for g in gts))
    return out


def train_detector(model: CenterNet, source: FrameSource, *, seconds: float = 1200.0,
                   batch_size: int = 16, lr: float = 2e-3, max_steps: int | None = None,
                   seed: int = 0, log: Callable[[str], None] | None = print,
                   log_every: int = 25) -> dict[str, Any]:
    """Train on freshly rendered batches until ``seconds`` of wall time (or ``max_steps``)
    have passed; Adam, lr on a cosine over the budget. Returns the history."""
    backend.manual_seed(seed)
    opt = optim.Adam(model.parameters(), lr=lr)
    history: dict[str, Any] = {"loss": [], "focal": [], "seconds": []}
    start = time.perf_counter()
    step = 0
    model.train()
    while True:
        elapsed = time.perf_counter() - start
        frac = elapsed / seconds if max_steps is None else step / max_steps
        if frac >= 1:
            break
        for group in opt.param_groups:
            group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        images, boxes, ignore = source.batch(batch_size)
        targets = make_targets(boxes, images.shape[2:], model.stride, ignore)
        loss, parts = detection_loss(model(Tensor(images)), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        history["loss"].append(float(loss.data))
        history["focal"].append(parts["focal"])
        history["seconds"].append(time.perf_counter() - start)
        if log and step % log_every == 0:
            recent = np.mean(history["loss"][-log_every:])
            log(f"step {step}  loss {recent:.3f}  (focal {parts['focal']:.3f}, offset "
                f"{parts['offset']:.3f}, size {parts['size']:.3f})  "
                f"{history['seconds'][-1]:.0f} s")
    history["steps"] = step
    model.eval()
    return history


def load_detector(path: str | os.PathLike) -> tuple[CenterNet, dict]:
    """``(model, checkpoint)`` of a checkpoint written by ``deepwise train detector``."""
    return models.load(path, expected=MODEL_NAME, writer="deepwise train detector")


def cmd_train(args: argparse.Namespace) -> int:
    if args.minutes <= 0:
        raise CommandError(f"--minutes must be positive, got {args.minutes}")
    try:
        train_files, test_files = scene_files(args.data, args.test_scene)
    except eth_ucy.DatasetNotFoundError as e:
        raise CommandError(f"{e}; or pass --data DIR") from None
    val_files: list[Path] = []
    if args.val_scene is not None:
        val_key = eth_ucy.scene_name(args.val_scene)
        if val_key == eth_ucy.scene_name(args.test_scene):
            raise CommandError(f"--val-scene {args.val_scene!r} is the test scene")
        val_files = [f for f in train_files if f.stem in eth_ucy.SCENES[val_key]]
        train_files = [f for f in train_files if f not in val_files]
    os.makedirs(args.out, exist_ok=True)
    backend.manual_seed(args.seed)
    model = CenterNet(width=args.width, stride=args.stride)
    held = ", ".join(f.stem for f in test_files + val_files)
    print(f"training on {', '.join(f.stem for f in train_files)}; held out: {held}; "
          f"{sum(p.data.size for p in model.parameters())} parameters, stride {model.stride}, "
          f"{args.minutes:g} minutes")
    source = FrameSource(train_files, seed=args.seed)
    history = train_detector(model, source, seconds=60.0 * args.minutes,
                             batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    scores = {}
    for name, files in ([("validation", val_files)] if val_files else []) + [("test", test_files)]:
        scores[name] = result = evaluate_detector(model, test_frames(files, args.eval_frames))
        scene = args.val_scene if name == "validation" else args.test_scene
        print(f"held-out {scene} ({name}): {result['frames']} frames, {result['boxes']} boxes: "
              f"AP@0.5 {result['ap50']:.3f}  AP@0.75 {result['ap75']:.3f}  "
              f"AP@0.5:0.95 {result['ap']:.3f}  ({history['steps']} steps)")
    result = scores["test"]
    path = os.path.join(args.out, "detector.safetensors")
    save_model(path, model, config={"model": MODEL_NAME, **model.config},
               test_scene=eth_ucy.scene_name(args.test_scene), ap50=float(result["ap50"]))
    with atomic_write(os.path.join(args.out, "results.json")) as f:
        json.dump({"test_scene": args.test_scene, "result": result,
                   **({"validation": scores["validation"]} if val_files else {}),
                   "steps": history["steps"],
                   "loss": history["loss"][::10],
                   "args": {k: v for k, v in vars(args).items() if k != "func"}}, f, indent=1)
    print(f"wrote {path}")
    return 0


def add_commands(subparsers: Any) -> None:
    """``deepwise train detector``."""
    p = train_parsers(subparsers).add_parser(
        "detector", help="CenterNet pedestrian detector on frames rendered from ETH/UCY",
        description="Train a CenterNet on camera frames rendered from the ETH/UCY scenes "
                    "(the held-out scene is never rendered into training); print COCO AP on "
                    "the held-out scene's frames.")
    p.add_argument("--out", required=True, help="folder for detector.safetensors + results")
    p.add_argument("--minutes", type=float, default=20.0, help="wall-clock training budget")
    p.add_argument("--test-scene", default="zara1", help="held-out scene (eth, univ, zara1, "
                   "zara2)")
    p.add_argument("--data", default=None, help="the ETH/UCY folder; default $DEEPWISE_DATA")
    p.add_argument("--val-scene", default=None, help="a scene also held out from training and "
                   "scored (for choosing a recipe without looking at the test scene)")
    p.add_argument("--width", type=int, default=16, help="backbone width (channels)")
    p.add_argument("--stride", type=int, default=2, choices=(2, 4),
                   help="output stride of the heatmap (2, the default: finer, for small "
                        "figures; about twice the compute of 4 per step)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--eval-frames", type=int, default=60, help="frames per held-out rig")
    p.add_argument("--seed", type=int, default=0)
    register(p, cmd_train)
