"""deepwise: a deep-learning framework written from scratch on NumPy, to read and to use."""

from . import autograd, backend, ops
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import (bool_, double, float16, float32, float64, get_default_dtype, half, int32,
                      int64, long, manual_seed, set_default_dtype, uint8)
from .ops.activation import *
from .ops.arith import *
from .ops.conv import *
from .ops.embedding import *
from .ops.index import *
from .ops.linalg import *
from .ops.loss import *
from .ops.norm import *
from .ops.pool import *
from .ops.reduce import *
from .ops.rnn import *
from .ops.shape import *
from .random import normal, rand, rand_like, randint, randn, randn_like, randperm
from .tensor import (Tensor, arange, as_tensor, empty, empty_like, eye, from_numpy, full,
                     full_like, linspace, ones, ones_like, tensor, zeros, zeros_like)

from . import data, io, nn, optim, train  # noqa: E402  (the framework's faces, as torch.nn ...)
from . import accelerator, cuda, onnx, serialization, utils, vision  # noqa: E402  (torch's faces)
from .io import load, save  # noqa: E402  (torch.save / torch.load)
from .ops.rounding import *  # noqa: E402
from .ops.sort import *  # noqa: E402
from .tensor import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor, Generator,  # noqa: E402
                     IntTensor, LongTensor, bernoulli, device, inference_mode, is_floating_point,
                     is_tensor, multinomial, numel)
from .explain.anomaly import detect_anomaly as _detect_anomaly  # noqa: E402

# PyTorch's name for anomaly mode is torch.autograd.detect_anomaly; it lives in explain (the core
# does not know explain exists) and is handed to autograd here, at the package face.
autograd.detect_anomaly = _detect_anomaly

__version__ = "0.1.0"

float = float32  # noqa: A001 - PyTorch's alias (deepwise.float)
int = int32  # noqa: A001 - PyTorch's alias (deepwise.int)
bool = bool_  # noqa: A001 - PyTorch's alias (deepwise.bool)
