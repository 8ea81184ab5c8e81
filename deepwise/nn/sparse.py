"""Embedding: a learnable lookup table of vectors, one row per token id."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..autograd import ShapeError
from ..ops.embedding import embedding as _embedding
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``; ``forward(ids)`` returns
    the rows ``weight[ids]``. Its gradient adds into the rows that were looked up.

    ``padding_idx``: that row starts at zero and never receives a gradient (a "pad" token).
    ``max_norm``: looked-up rows whose ``norm_type``-norm exceeds it are rescaled to it, in place.
    ``scale_grad_by_freq``: divide each row's gradient by its count in the batch.
    The weight is initialised N(0, 1), as in PyTorch.

    Shape: input (*) integer ids in [0, num_embeddings) -> output (*, embedding_dim).

    >>> import deepwise as dw
    >>> from deepwise import nn
    >>> emb = nn.Embedding(10, 3, padding_idx=0)
    >>> emb(dw.tensor([[1, 2, 0], [4, 3, 9]])).shape
    (2, 3, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Any = None, _freeze: bool = False, dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings "
                                 f"({self.num_embeddings}), got {padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (sparse gradients) is not "
                                      "supported")
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dt),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if w.shape != (self.num_embeddings, self.embedding_dim):
                raise ShapeError(f"Embedding: _weight has shape {w.shape}, expected "
                                 f"({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(w, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """weight ~ N(0, 1); the padding row set to zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        return _embedding(input, self.weight, self.padding_idx, self.max_norm,
                              self.norm_type, self.scale_grad_by_freq)

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding holding ``embeddings`` (V, D) as its weight (shared, not copied, as in
        PyTorch); ``freeze=True`` makes it non-trainable. The padding row is left as given.

        >>> import deepwise as dw
        >>> from deepwise import nn
        >>> emb = nn.Embedding.from_pretrained(dw.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> emb(dw.tensor([1])).tolist(), emb.weight.requires_grad
        ([[3.0, 4.0]], False)
        """
        w = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be 2-D "
                             f"(num_embeddings, embedding_dim), got shape {w.shape}")
        return cls(w.shape[0], w.shape[1], padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse,
                   _weight=w, _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s

    def short_repr(self) -> str:
        return f"Embedding {self.num_embeddings}x{self.embedding_dim}"
