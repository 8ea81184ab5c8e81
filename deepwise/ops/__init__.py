"""Every differentiable op, one family per file. Each op is a Function (forward and backward side
by side) with a snake_case function below it; ``nn.functional`` is the user-facing face, and
``deepwise.<name>`` (``deepwise.exp``, ``deepwise.cat`` ...) reaches every op function too.

``deepwise.ops.<family>`` is always the module (``deepwise.ops.norm`` is the normalisation
family; the ``norm`` reduction is ``deepwise.norm``). Each module lists in ``TENSOR_METHODS``
the functions that are also ``Tensor`` methods (``x.sum()`` is ``ops.reduce.sum(x)``); they
are bound here, once.
"""

from ..tensor import Tensor
from . import (activation, arith, conv, embedding, index, interpolate, linalg, loss, norm, pool,
               reduce, rnn, shape)
from . import attention
from . import distance
from . import ctc
from . import vae
from . import focal
from . import sort
from . import rounding

FAMILIES = (arith, reduce, shape, index, linalg, activation, loss, conv, pool, interpolate, norm,
            embedding, rnn, attention)
FAMILIES += (distance,)
FAMILIES += (ctc,)
FAMILIES += (vae,)
FAMILIES += (focal,)
FAMILIES += (sort,)
FAMILIES += (rounding,)

for _m in FAMILIES:
    for _name in _m.TENSOR_METHODS:
        setattr(Tensor, _name, getattr(_m, _name))
del _m, _name
