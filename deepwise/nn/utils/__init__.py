"""Helpers around modules and their parameters (PyTorch's ``torch.nn.utils``)."""

from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_, l1_penalty
from .convert_parameters import parameters_to_vector, vector_to_parameters
