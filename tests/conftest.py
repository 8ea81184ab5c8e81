import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import deepwise as dw  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_data_root() -> Path:
    """Where the shared real data sets are: ``$DEEPWISE_TEST_DATA``, else ``../shared/data`` from
    the project root (the layout of the development machines and CI)."""
    env = os.environ.get("DEEPWISE_TEST_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


def shared_data(relative: str) -> Path:
    """The path of a shared data set (a file or folder under :func:`shared_data_root`); skips the
    calling test, naming the data set and how to get it, when it is absent."""
    path = shared_data_root() / relative
    if not path.exists():
        pytest.skip(f"data set {relative!r} not found under {shared_data_root()} "
                    f"(set $DEEPWISE_TEST_DATA to the folder that holds it, or put the project's "
                    f"shared data at ../shared/data; see the data set's README for its source)")
    return path


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same seed, so failures repeat."""
    dw.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(params=["numpy", "numba"])
def kernel_path(request):
    """Runs the test twice: through the ops' NumPy reference path, and through deepwise.kernels'
    compiled kernels (skipped when numba is not installed). Yields the path's name."""
    from deepwise import kernels
    if request.param == "numba" and not kernels.available():
        pytest.skip("numba is not installed: only the NumPy path is tested")
    with kernels.use_numba(request.param == "numba"):
        yield request.param
