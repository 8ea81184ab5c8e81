import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import deepwise as dw  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seed, so failures repeat."""
    dw.manual_seed(0)
    np.random.seed(0)
    yield
