"""deepwise.nn: Module, Parameter, layers, losses, containers, init - PyTorch's names.

``from deepwise import nn``; ``nn.functional`` (also ``import deepwise.nn.functional as F``) is
the function face of the ops; ``nn.init`` fills weights; ``nn.utils`` holds helpers such as
gradient clipping.
"""

from . import functional, init, utils
from .activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .container import ModuleDict, ModuleList, Sequential
from .dropout import Dropout
from .linear import Flatten, Identity, Linear, Unflatten
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import (
    Module,
    module_call_stack,
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from .parameter import Parameter
from .summary import ModelSummary, summary
