"""deepwise.nn.functional: the function face of the ops, under PyTorch's ``torch.nn.functional``
names, so ``import deepwise.nn.functional as F`` ports a script unchanged.

Every name here is an op from ``deepwise.ops`` (activations, losses, convolution, pooling,
normalisation, ``linear``, ``pad``); each op's forward and backward sit side by side in its
ops/ file.

>>> import deepwise as dw
>>> import deepwise.nn.functional as F
>>> F.cross_entropy(dw.tensor([[2.0, 0.0, 0.0]]), dw.tensor([0]))
tensor(0.2395)
"""

from __future__ import annotations

from ..ops.activation import *  # noqa: F403
from ..ops.activation import __all__ as _activation_all
from ..ops.attention import scaled_dot_product_attention
from ..ops.conv import *  # noqa: F403
from ..ops.conv import __all__ as _conv_all
from ..ops.ctc import ctc_loss
from ..ops.distance import *  # noqa: F403
from ..ops.distance import __all__ as _distance_all
from ..ops.embedding import embedding
from ..ops.linalg import linear
from ..ops.loss import *  # noqa: F403
from ..ops.loss import __all__ as _loss_all
from ..ops.norm import *  # noqa: F403
from ..ops.norm import __all__ as _norm_all
from ..ops.pool import *  # noqa: F403
from ..ops.pool import __all__ as _pool_all
from ..ops.shape import pad

__all__ = [*_activation_all, *_loss_all, *_conv_all, *_pool_all, *_norm_all, "embedding", "linear",
           "pad", "scaled_dot_product_attention"]
__all__ += _distance_all
__all__ += ["ctc_loss"]
from ..ops.focal import focal_heatmap_loss  # noqa: E402
from ..ops.vae import gaussian_kl, kl_div  # noqa: E402

__all__ += ["kl_div", "gaussian_kl"]
__all__ += ["focal_heatmap_loss"]
from ..ops.instance_norm import instance_norm  # noqa: E402

__all__ += ["instance_norm"]
