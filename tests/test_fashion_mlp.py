"""Real data: an MLP (two hidden layers, dropout) on Fashion-MNIST reaches >= 89% test accuracy
with early stopping (published MLP baselines: 87-89%). The recipe is ``deepwise train mlp``'s."""

import os
import time

import pytest

import deepwise as dw
from deepwise.models import MLP
from deepwise.train.recipes import train_classifier

DEBIAN = "/usr/share/datasets/fashion-mnist"


@pytest.mark.slow
def test_fashion_mnist_mlp_reaches_89_percent():
    if not os.path.isdir(DEBIAN) and not os.environ.get("DEEPWISE_DATA"):
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
    from deepwise.data.datasets import FashionMNIST

    train_set, test_set = FashionMNIST(train=True), FashionMNIST(train=False)
    dw.manual_seed(0)
    model = MLP(784, (512, 256), 10, dropout=0.2)
    start = time.perf_counter()
    result = train_classifier(model, train_set, test_set, epochs=30, batch_size=128, lr=1e-3,
                              patience=10, schedule="cosine", seed=0, verbose=False)
    print(f"\nFashion-MNIST MLP: test accuracy {result['test_accuracy']:.4f}, "
          f"{result['epochs_run']} epochs, {time.perf_counter() - start:.0f} s, "
          f"{result['seconds_per_epoch']:.1f} s/epoch")
    assert result["test_accuracy"] >= 0.89, result["test_accuracy"]
