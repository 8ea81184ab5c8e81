"""Helpers around modules and their parameters (PyTorch's ``torch.nn.utils``)."""

from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_, l1_penalty
