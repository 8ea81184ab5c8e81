"""Real data: SmallCNN on Fashion-MNIST with the recipe of ``deepwise train cnn``
(train_classifier: Adam lr 1e-3 with cosine annealing, batch 128, dropout 0.1, 10% of the training
set held out for validation with early-stopping patience 5, then the 10,000 test images), with a
short budget.

The full recipe (8 epochs: 92.48%, PyTorch 92.28%) is a recorded run in BENCHMARKS.md. CI trains
one epoch (cosine over that epoch): measured 0.8862 on 2026-12-01 (seed 0; 195 s on a machine
loaded by ~7 other jobs, ~45 s on a quiet one). The bound 0.875 leaves a point for BLAS and
threading differences; the MLP of ``deepwise train mlp`` after one epoch reaches 0.8335. The wall
time and the time per epoch are printed (``pytest -s``) and recorded as test properties, never
asserted.

Reproduce: ``deepwise train cnn --data fashion-mnist --epochs 1 --schedule cosine --dropout 0.1
--patience 5``; the full recipe: ``--epochs 8``; PyTorch: ``python benchmarks/fashion_torch.py
--epochs 8 --threads 2``.
"""

import os
import time

import pytest

from deepwise import models
from deepwise.data.datasets import DatasetNotFoundError, FashionMNIST
from deepwise.train.recipes import train_classifier

EPOCHS, BOUND = 1, 0.875


def _data():
    try:
        return FashionMNIST(train=True), FashionMNIST(train=False)
    except DatasetNotFoundError as e:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist, or "
                    f"set $DEEPWISE_DATA): {str(e).splitlines()[0]}")


@pytest.mark.slow
def test_small_cnn_on_fashion_mnist_learns_in_one_epoch(record_property):
    train, test = _data()
    config = {"model": "cnn", "in_channels": 1, "image_size": 28, "num_classes": 10,
              "dropout": 0.1}
    model = models.build(config)
    start = time.perf_counter()
    result = train_classifier(model, train, test, epochs=EPOCHS, batch_size=128, lr=1e-3,
                              schedule="cosine", patience=5, val_size=0.1, config=config,
                              seed=0, verbose=False)
    wall = time.perf_counter() - start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report = (f"SmallCNN Fashion-MNIST: test accuracy {result['test_accuracy']:.4f} after "
              f"{result['epochs_run']} epochs (best {result['best_epoch']}), wall {wall:.0f} s, "
              f"{result['seconds_per_epoch']:.1f} s/epoch (train + validation), load average "
              f"{load:.1f}")
    print("\n" + report)
    for key in ("test_accuracy", "epochs_run", "best_epoch", "seconds_per_epoch"):
        record_property(key, result[key])
    record_property("wall_seconds", wall)
    assert result["test_accuracy"] >= BOUND, report
    assert result["epochs_run"] == EPOCHS
    assert max(result["history"]["val_accuracy"]) >= BOUND, result["history"]["val_accuracy"]
