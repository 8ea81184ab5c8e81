"""Detector recall by the true box's height on the held-out frames of ``deepwise train
detector``: a box counts as found when a detection scoring at least ``--score`` overlaps it
with IoU >= 0.5 (not one-to-one matching: this is about what the detector sees, AP is the
score)::

    DEEPWISE_DATA=../shared/data python -m benchmarks.detector_recall runs/det/detector.safetensors
"""

from __future__ import annotations

import argparse

import numpy as np

from deepwise.apps import detection as D
from deepwise.train import detection_metrics as dm

BINS = (6, 10, 15, 25, 40, 10_000)


def recall_by_height(path: str, test_scene: str = "zara1", eval_frames: int = 60,
                     score: float = 0.3) -> tuple[np.ndarray, np.ndarray, int]:
    """``(found, total, stride)``: per height bin of ``BINS``, boxes found and boxes."""
    model, _ = D.load_detector(path)
    frames = D.test_frames(D.scene_files(None, test_scene)[1], eval_frames)
    dets = model.detect(np.stack([f.image for f in frames]), threshold=score)
    found, total = np.zeros(len(BINS) - 1), np.zeros(len(BINS) - 1)
    for (boxes, _), frame in zip(dets, frames):
        gt, _ = frame.split()
        if not len(gt):
            continue
        hit = (dm.box_iou(gt, boxes) >= 0.5).any(1) if len(boxes) else np.zeros(len(gt), bool)
        k = np.digitize(gt[:, 3] - gt[:, 1], BINS) - 1
        np.add.at(total, k, 1)
        np.add.at(found, k, hit)
    return found, total, model.stride


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--test-scene", default="zara1")
    p.add_argument("--eval-frames", type=int, default=60)
    p.add_argument("--score", type=float, default=0.3)
    a = p.parse_args()
    for path in a.checkpoints:
        found, total, stride = recall_by_height(path, a.test_scene, a.eval_frames, a.score)
        cells = [f"{BINS[i]}-{BINS[i + 1]} px: {found[i] / max(total[i], 1):.2f} "
                 f"({int(total[i])})" for i in range(len(total))]
        print(f"{path} (stride {stride}): " + "  ".join(cells))


if __name__ == "__main__":
    main()
