"""``deepwise.onnx``: PyTorch's ``torch.onnx.export`` for deepwise models (needs ``pip install
onnx``). See :func:`export` for the layers it writes and how it records a model."""

from .export import ExportError, export

__all__ = ["export", "ExportError"]
