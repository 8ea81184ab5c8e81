"""deepwise.nn: Module, Parameter, layers, losses, containers, init - PyTorch's names.

``from deepwise import nn``; ``nn.functional`` (also ``import deepwise.nn.functional as F``) is
the function face of the ops; ``nn.init`` fills weights; ``nn.utils`` holds helpers such as
gradient clipping.
"""

from . import functional, init, utils
from . import parallel
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
from .activation import Hardtanh, LogSigmoid, PReLU, ReLU6
from .attention import (
    BahdanauAttention,
    LuongAttention,
    MultiheadAttention,
    PositionalEncoding,
)
from .container import ModuleDict, ModuleList, Sequential
from .container import ParameterDict, ParameterList
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import Dropout, Dropout2d
from .linear import Flatten, Identity, Linear, Unflatten
from .loss import (
    ArcFaceLoss,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    CTCLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    TripletMarginLoss,
)
from .module import (
    Module,
    module_call_stack,
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .normalization import InstanceNorm1d, InstanceNorm2d
from .parallel import SyncBatchNorm
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .sparse import Embedding
from .pooling import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from .summary import ModelSummary, summary
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from .upsampling import Upsample
