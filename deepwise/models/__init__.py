"""Architectures only - the networks the applications train - and ``build(config)`` to rebuild one
from the config stored in its checkpoint (``load(path)`` does both and loads the weights).

Each model documents its input and output shapes (``Shape:``) and is registered below under the
name its checkpoints carry in ``config["model"]``. Data preparation, training recipes and commands
live in ``deepwise/apps/``."""

from __future__ import annotations

from typing import Any

from .autoencoder import VAE, Autoencoder, ConvAutoencoder, ConvVAE
from .char_rnn import CharRNN
from .cnn import LeNet5, SmallCNN
from .detection import CenterNet
from .errors import SequenceTooLongError
from .faces import FaceCNN, FaceEmbedder
from .mlp import MLP
from .sentiment import SentimentRNN
from .speech import CTCSpeechModel, SpeechCNN, SpeechGRU
from .translation import Seq2SeqGRU, TransformerTranslator
from .trajectory import TrajectoryCVAE, TrajectoryLSTM

_REGISTRY: dict[str, Any] = {"mlp": MLP, "cnn": SmallCNN, "lenet5": LeNet5, "char-rnn": CharRNN,
                             "sentiment-rnn": SentimentRNN}
_REGISTRY.update({"face-cnn": FaceCNN, "face-embedder": FaceEmbedder})
_REGISTRY.update({"centernet": CenterNet})
_REGISTRY.update({"trajectory-lstm": TrajectoryLSTM, "trajectory-cvae": TrajectoryCVAE})
_REGISTRY.update({"translation-gru": Seq2SeqGRU,
                  "translation-transformer": TransformerTranslator})
_REGISTRY.update({"speech-cnn": SpeechCNN, "speech-gru": SpeechGRU, "speech-ctc": CTCSpeechModel})
_REGISTRY.update({"autoencoder": Autoencoder, "conv-autoencoder": ConvAutoencoder, "vae": VAE,
                  "conv-vae": ConvVAE})


def build(config: dict) -> Any:
    """The model named by ``config["model"]``, built with the config's other entries that its
    constructor takes (so a checkpoint's config rebuilds the same architecture)."""
    import inspect

    name = config.get("model")
    if name not in _REGISTRY:
        raise ValueError(f"models.build: unknown model {name!r}; known: {sorted(_REGISTRY)}")
    cls = _REGISTRY[name]
    params = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in config.items() if k in params and k != "self"})


def load(path: Any, expected: str | tuple[str, ...] | None = None, *, needs: tuple[str, ...] = (),
         writer: str | None = None) -> tuple[Any, dict]:
    """``(model, checkpoint)`` from an application's checkpoint (``io.save_model``): the
    architecture rebuilt from its config by :func:`build`, its weights loaded, in eval mode.
    ``expected``/``needs``/``writer`` as in :func:`deepwise.io.load_model`."""
    from ..io import load_model

    return load_model(path, build, expected, needs=needs, writer=writer)
