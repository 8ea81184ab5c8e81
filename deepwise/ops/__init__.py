"""Every differentiable op, one family per file. Each op is a Function (forward and backward side
by side) with a snake_case function below it; ``nn.functional`` is the user-facing face.

Each module lists in ``TENSOR_METHODS`` the functions that are also ``Tensor`` methods
(``x.sum()`` is ``ops.reduce.sum(x)``); they are bound here, once.
"""

from ..tensor import Tensor
from . import (activation, arith, conv, embedding, index, linalg, loss, norm, pool, reduce, rnn,
               shape)

# taken before the star imports: reduce's norm() shadows the norm module's name below
_MODULES = (arith, reduce, shape, index, linalg, activation, loss, conv, pool, norm, embedding, rnn)
from .activation import *
from .arith import *
from .conv import *
from .embedding import *
from .index import *
from .linalg import *
from .loss import *
from .norm import *
from .pool import *
from .reduce import *
from .rnn import *
from .shape import *

for _m in _MODULES:
    for _name in _m.TENSOR_METHODS:
        setattr(Tensor, _name, getattr(_m, _name))
del _m, _name
