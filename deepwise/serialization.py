"""``deepwise.serialization``: PyTorch's ``torch.serialization`` allow-list for loading whole
modules with ``deepwise.load(f)`` (``weights_only=True``, the default). The file format and
``save``/``load`` themselves are in :mod:`deepwise.io`.

>>> deepwise.serialization.add_safe_globals([MyModel])   # doctest: +SKIP
>>> model = deepwise.load("model.pt")                      # doctest: +SKIP
"""

from .io.serialization import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

__all__ = ["add_safe_globals", "safe_globals", "get_safe_globals", "clear_safe_globals"]
