"""Autoencoders: networks that learn from images alone, by reconstructing them through a narrow
code (the bottleneck).

* :class:`Autoencoder` (MLP) and :class:`ConvAutoencoder`: encoder -> code z (``latent``
  numbers) -> decoder -> one logit per pixel. The loss is the Bernoulli negative
  log-likelihood of the image given the logits (``binary_cross_entropy_with_logits``, summed
  over pixels: nats per image). Since z is far smaller than the image, the network must keep
  what varies most across images: shape, class, thickness - structure learned without labels.
* Denoising (Vincent et al., 2008): the same networks with ``noise='gaussian'`` (add
  ``noise_level`` x N(0, 1) to each pixel, clipped to [0, 1]) or ``noise='mask'`` (set a
  fraction ``noise_level`` of the pixels to 0, the rest scaled by 1 / (1 - noise_level) as in
  inverted dropout); in training mode the input is corrupted and the clean image is the
  target, so the code cannot just copy pixels.
* :class:`VAE` (MLP) and :class:`ConvVAE` (Kingma and Welling, 2014): the encoder gives a
  Gaussian ``q(z|x) = N(mu, exp(logvar))``; z is drawn by reparameterisation
  ``z = mu + exp(logvar / 2) * eps``, eps ~ N(0, I) (so the gradient reaches mu and logvar);
  the loss is the negative ELBO, :func:`negative_elbo` = reconstruction NLL + KL(q || N(0, I))
  (``gaussian_kl``, closed form). Decoding z ~ N(0, I) draws new images.

Every model here has ``encode(x)`` (the code: z, or mu for a VAE - the features a classifier
builds on), ``decode(z)`` (logits) and ``loss(x)`` (nats per image, a scalar tensor).
:class:`EncoderClassifier` puts a linear head on the encoder of any of them, for fine-tuning
with few labels.

>>> import deepwise
>>> vae = VAE(in_features=784, hidden=(64,), latent=2)
>>> logits, mu, logvar = vae(deepwise.zeros(3, 1, 28, 28))
>>> logits.shape, mu.shape
((3, 1, 28, 28), (3, 2))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import nn
from ..nn import functional as F
from ..random import rand_like, randn_like
from ..tensor import Tensor

__all__ = ["Autoencoder", "ConvAutoencoder", "VAE", "ConvVAE", "EncoderClassifier", "corrupt",
           "negative_elbo", "NOISES"]

NOISES = ("gaussian", "mask")


def corrupt(x: Tensor, noise: str, level: float) -> Tensor:
    """A corrupted copy of the image batch ``x`` (values in [0, 1]) for a denoising autoencoder.

    ``'gaussian'``: ``clip(x + level * N(0, 1), 0, 1)``; ``'mask'``: each pixel set to 0 with
    probability ``level`` (masking noise). Draws from deepwise's generator (seeded by
    ``deepwise.manual_seed``). Shape: any -> the same.
    """
    if noise == "gaussian":
        return (x + randn_like(x) * float(level)).clamp(0.0, 1.0)
    if noise == "mask":
        return x * (rand_like(x) >= float(level)).to(x.dtype)
    raise ValueError(f"corrupt: noise must be one of {', '.join(NOISES)}, got {noise!r}")


def _bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """-log p(x | logits) of Bernoulli pixels, summed over pixels and averaged over the batch:
    nats per image. Grey levels in [0, 1] are taken as the probability of a white pixel."""
    if tuple(logits.shape) != tuple(x.shape):
        raise ValueError(f"reconstruction of shape {tuple(logits.shape)} for images of shape "
                         f"{tuple(x.shape)}: the model was built for another image size")
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / max(x.shape[0], 1)


def negative_elbo(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """``(nelbo, reconstruction, kl)``, each in nats per image (a scalar tensor):
    ``nelbo = -E_q[log p(x|z)] + beta KL(q(z|x) || N(0, I))`` with the expectation taken at one
    reparameterised sample (the logits); ``beta = 1`` is the true bound on ``-log p(x)``.

    Shape: logits and x (N, C, H, W); mu and logvar (N, latent).
    """
    recon = _bernoulli_nll(logits, x)
    kl = F.gaussian_kl(mu, logvar, reduction="batchmean")
    return recon + kl * float(beta), recon, kl


def _mlp(widths: Sequence[int], last_act: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_act:
            layers.append(nn.ReLU())
    return layers


def _image_shape(in_features: int, image_shape: Sequence[int] | None) -> tuple[int, ...]:
    if image_shape is None:
        side = math.isqrt(int(in_features))
        if side * side != in_features:
            raise ValueError(f"in_features {in_features} is not a square image; pass "
                             "image_shape=(C, H, W)")
        return (1, side, side)
    shape = tuple(int(s) for s in image_shape)
    if math.prod(shape) != in_features:
        raise ValueError(f"image_shape {shape} has {math.prod(shape)} pixels, not in_features "
                         f"{in_features}")
    return shape


class _Base(nn.Module):
    """What every autoencoder here shares: the denoising corruption (training mode only)."""

    variational = False

    def _noise_config(self, noise: str | None, noise_level: float) -> None:
        if noise is not None and noise not in NOISES:
            raise ValueError(f"{type(self).__name__}: noise must be None or one of "
                             f"{', '.join(NOISES)}, got {noise!r}")
        if not 0.0 <= float(noise_level) <= (1.0 if noise == "mask" else math.inf):
            raise ValueError(f"{type(self).__name__}: noise_level must be >= 0 (and <= 1 for "
                             f"masking), got {noise_level}")
        self.noise, self.noise_level = noise, float(noise_level)

    def corrupt_input(self, x: Tensor) -> Tensor:
        """The input the encoder sees: corrupted in training mode when ``noise`` is set. Masked
        inputs are scaled by 1 / (1 - level), as inverted dropout does, so that a clean image in
        evaluation has the brightness the encoder saw in training (without it, a denoising
        autoencoder trained with half the pixels masked reconstructs clean images badly:
        measured 367 against 229 nats/image on Fashion-MNIST)."""
        if not (self.training and self.noise):
            return x
        out = corrupt(x, self.noise, self.noise_level)
        if self.noise == "mask" and self.noise_level < 1:
            out = out * (1.0 / (1.0 - self.noise_level))
        return out

    def extra_repr(self) -> str:
        return f"noise={self.noise!r}, noise_level={self.noise_level}" if self.noise else ""


class _AE(_Base):
    def encode(self, x: Tensor) -> Tensor:
        """The code z (N, latent) of images x (N, C, H, W)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Pixel logits (N, C, H, W) from codes z (N, latent); sigmoid gives the image."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(self.corrupt_input(x)))

    def loss(self, x: Tensor) -> Tensor:
        """Bernoulli NLL of the clean ``x`` given the reconstruction (of the corrupted x in
        training mode, for a denoising autoencoder): nats per image."""
        return _bernoulli_nll(self(x), x)


class _VAEBase(_Base):
    variational = True

    def encode_gaussian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of q(z|x), each (N, latent)."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def encode(self, x: Tensor) -> Tensor:
        """The mean code mu (N, latent): the features for a classifier, the point in a map."""
        return self.encode_gaussian(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I): a sample of q(z|x) that is a
        differentiable function of mu and logvar."""
        return mu + (logvar * 0.5).exp() * randn_like(mu)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(logits, mu, logvar)``: the decoding of one sample z ~ q(z|x) (always sampled:
        the ELBO is an expectation over q, in evaluation too)."""
        mu, logvar = self.encode_gaussian(self.corrupt_input(x))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    def loss(self, x: Tensor) -> Tensor:
        """The negative ELBO of ``x`` at one sample of z: nats per image (>= -log p(x))."""
        logits, mu, logvar = self(x)
        return negative_elbo(logits, x, mu, logvar, self.beta)[0]


def _mlp_parts(in_features: int, hidden: Sequence[int], latent: int, image_shape: tuple,
               code: bool) -> tuple[nn.Sequential, nn.Sequential]:
    """Encoder Flatten -> [Linear -> ReLU]* (-> Linear(latent) when ``code``) and the mirror
    decoder Linear(latent) -> [ReLU -> Linear]* -> Unflatten to the image's shape."""
    widths = [in_features, *hidden]
    enc = [nn.Flatten(), *_mlp(widths + ([latent] if code else []), last_act=not code)]
    dec = [*_mlp([latent, *reversed(widths)], last_act=False), nn.Unflatten(1, image_shape)]
    return nn.Sequential(*enc), nn.Sequential(*dec)


class Autoencoder(_AE):
    """An MLP autoencoder: Flatten -> [Linear -> ReLU] per ``hidden`` -> Linear(latent) (the
    code) -> the mirror image of the encoder -> pixel logits. ``noise``/``noise_level`` make it
    a denoising autoencoder (see :func:`corrupt`).

    Shape: input (N, C, H, W) in [0, 1] with C*H*W == in_features; ``encode`` (N, latent);
    output (N, C, H, W) logits.

    >>> import deepwise
    >>> ae = Autoencoder(784, hidden=(128,), latent=16)
    >>> ae(deepwise.zeros(2, 1, 28, 28)).shape, ae.encode(deepwise.zeros(2, 1, 28, 28)).shape
    ((2, 1, 28, 28), (2, 16))
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (512, 256),
                 latent: int = 32, image_shape: Sequence[int] | None = None,
                 noise: str | None = None, noise_level: float = 0.0) -> None:
        super().__init__()
        shape = _image_shape(int(in_features), image_shape)
        self._noise_config(noise, noise_level)
        self.config = {"in_features": int(in_features), "hidden": [int(h) for h in hidden],
                       "latent": int(latent), "image_shape": list(shape), "noise": noise,
                       "noise_level": float(noise_level)}
        self.latent = int(latent)
        self.encoder, self.decoder = _mlp_parts(int(in_features), self.config["hidden"],
                                                self.latent, shape, code=True)


class VAE(_VAEBase):
    """An MLP variational autoencoder: Flatten -> [Linear -> ReLU] per ``hidden`` -> two heads
    Linear(latent) for mu and logvar; z = mu + exp(logvar / 2) eps; the decoder mirrors the
    encoder and gives Bernoulli pixel logits. ``loss(x)`` is :func:`negative_elbo`
    (``beta`` weights its KL term; 1 is the ELBO).

    Shape: input (N, C, H, W) in [0, 1]; forward -> (logits (N, C, H, W), mu (N, latent),
    logvar (N, latent)); ``decode(z)`` (N, latent) -> logits.
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (512, 256),
                 latent: int = 32, image_shape: Sequence[int] | None = None,
                 noise: str | None = None, noise_level: float = 0.0, beta: float = 1.0) -> None:
        super().__init__()
        shape = _image_shape(int(in_features), image_shape)
        self._noise_config(noise, noise_level)
        hidden = [int(h) for h in hidden]
        if not hidden:
            raise ValueError("VAE: hidden must name at least one layer (the heads sit on it)")
        self.config = {"in_features": int(in_features), "hidden": hidden, "latent": int(latent),
                       "image_shape": list(shape), "noise": noise,
                       "noise_level": float(noise_level), "beta": float(beta)}
        self.latent, self.beta = int(latent), float(beta)
        self.encoder, self.decoder = _mlp_parts(int(in_features), hidden, self.latent, shape,
                                                code=False)
        self.mu = nn.Linear(hidden[-1], self.latent)
        self.logvar = nn.Linear(hidden[-1], self.latent)


def _conv_parts(in_channels: int, image_size: int, channels: Sequence[int], latent: int,
                code: bool, hidden: int = 0) -> tuple[nn.Sequential, nn.Sequential, int]:
    """Encoder [Conv 4x4 stride 2 pad 1 -> ReLU] per channel count (each halves the side) ->
    Flatten (-> Linear(hidden) -> ReLU when ``hidden``) (-> Linear(latent) when ``code``);
    decoder (Linear(hidden) -> ReLU when ``hidden``) -> Linear -> ReLU -> Unflatten ->
    [ConvTranspose 4x4 stride 2 pad 1 (doubles the side) -> ReLU]* -> logits. Returns the
    encoder, the decoder and the encoder's output width."""
    n = len(channels)
    side = image_size // 2 ** n
    if n == 0 or side < 1 or side * 2 ** n != image_size:
        raise ValueError(f"conv autoencoder: {n} stride-2 convolutions need an image_size "
                         f"divisible by {2 ** n}, got {image_size} (and channels not empty)")
    flat = channels[-1] * side * side
    enc: list[nn.Module] = []
    width = in_channels
    for c in channels:
        enc += [nn.Conv2d(width, c, 4, stride=2, padding=1), nn.ReLU()]
        width = c
    enc.append(nn.Flatten())
    out = flat
    if hidden:
        enc += [nn.Linear(flat, hidden), nn.ReLU()]
        out = hidden
    if code:
        enc.append(nn.Linear(out, latent))
    dec: list[nn.Module] = [nn.Linear(latent, hidden), nn.ReLU()] if hidden else []
    dec += [nn.Linear(hidden or latent, flat), nn.ReLU(),
            nn.Unflatten(1, (channels[-1], side, side))]
    outs = [*reversed(channels[:-1]), in_channels]
    width = channels[-1]
    for i, c in enumerate(outs):
        dec.append(nn.ConvTranspose2d(width, c, 4, stride=2, padding=1))
        if i < len(outs) - 1:
            dec.append(nn.ReLU())
        width = c
    return nn.Sequential(*enc), nn.Sequential(*dec), out


class ConvAutoencoder(_AE):
    """A convolutional autoencoder: [Conv 4x4 stride 2 -> ReLU] per ``channels`` -> Linear
    (the code, ``latent``) -> Linear -> [ConvTranspose2d 4x4 stride 2] back to the image.
    With the defaults on 28x28: 1x28x28 -> 32x14x14 -> 64x7x7 -> 32 -> 64x7x7 -> 32x14x14 ->
    1x28x28 logits. ``hidden`` > 0 puts a fully connected layer of that width between the
    feature map and the code, on both sides. ``noise``/``noise_level`` as :class:`Autoencoder`.

    Shape: input (N, in_channels, image_size, image_size); output the same shape, logits.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28,
                 channels: Sequence[int] = (32, 64), latent: int = 32, noise: str | None = None,
                 noise_level: float = 0.0, hidden: int = 0) -> None:
        super().__init__()
        self._noise_config(noise, noise_level)
        channels = [int(c) for c in channels]
        self.config = {"in_channels": int(in_channels), "image_size": int(image_size),
                       "channels": channels, "latent": int(latent), "noise": noise,
                       "noise_level": float(noise_level)}
        if hidden:  # the key only when set: checkpoints without it load as before
            self.config["hidden"] = int(hidden)
        self.latent = int(latent)
        self.encoder, self.decoder, _ = _conv_parts(int(in_channels), int(image_size), channels,
                                                    self.latent, code=True, hidden=int(hidden))


class ConvVAE(_VAEBase):
    """A convolutional VAE: the encoder of :class:`ConvAutoencoder` up to the flattened feature
    map (or its ``hidden`` fully connected layer), heads Linear(latent) for mu and logvar, and
    its transposed-convolution decoder.

    Shape: input (N, in_channels, image_size, image_size); forward -> (logits of the input's
    shape, mu (N, latent), logvar (N, latent)).
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28,
                 channels: Sequence[int] = (32, 64), latent: int = 32, noise: str | None = None,
                 noise_level: float = 0.0, beta: float = 1.0, hidden: int = 0) -> None:
        super().__init__()
        self._noise_config(noise, noise_level)
        channels = [int(c) for c in channels]
        self.config = {"in_channels": int(in_channels), "image_size": int(image_size),
                       "channels": channels, "latent": int(latent), "noise": noise,
                       "noise_level": float(noise_level), "beta": float(beta)}
        if hidden:
            self.config["hidden"] = int(hidden)
        self.latent, self.beta = int(latent), float(beta)
        self.encoder, self.decoder, flat = _conv_parts(int(in_channels), int(image_size),
                                                       channels, self.latent, code=False,
                                                       hidden=int(hidden))
        self.mu = nn.Linear(flat, self.latent)
        self.logvar = nn.Linear(flat, self.latent)


KINDS: dict[str, Any] = {"autoencoder": Autoencoder, "conv-autoencoder": ConvAutoencoder,
                         "vae": VAE, "conv-vae": ConvVAE}


class EncoderClassifier(nn.Module):
    """A classifier on an autoencoder's encoder: ``Linear(latent, num_classes)`` on
    ``autoencoder.encode(x)`` (the code z, or mu for a VAE). The decoder is not used.

    ``autoencoder``: the config of the autoencoder (``{"model": "vae", ...}``, as its
    checkpoint stores it); the same config with fresh weights is the from-scratch baseline, so
    both have the same network. ``load_encoder(model)`` copies a pretrained autoencoder's
    weights in; ``freeze_encoder=True`` trains only the head (a linear probe).
    ``keep_decoder=True`` keeps the decoder too, for a joint objective (classification on the
    labelled images plus ``reconstruction_loss`` on unlabelled ones); ``forward`` never uses it.

    Shape: input (N, C, H, W); output (N, num_classes) logits.
    """

    def __init__(self, autoencoder: dict, num_classes: int = 10,
                 keep_decoder: bool = False) -> None:
        super().__init__()
        name = autoencoder.get("model")
        if name not in KINDS:
            raise ValueError(f"EncoderClassifier: autoencoder config names {name!r}; known: "
                             f"{sorted(KINDS)}")
        cls = KINDS[name]
        import inspect

        params = inspect.signature(cls.__init__).parameters
        ae = cls(**{k: v for k, v in autoencoder.items() if k in params and k != "self"})
        self._noise, ae.noise = ae.noise, None  # a classifier sees clean images
        if not keep_decoder:
            del ae.decoder
        self.config = {"autoencoder": dict(autoencoder), "num_classes": int(num_classes),
                       "keep_decoder": bool(keep_decoder)}
        self.backbone = ae
        self.head = nn.Linear(ae.latent, int(num_classes))
        self.frozen = False

    def load_encoder(self, model: nn.Module) -> None:
        """Copy the encoder weights (and the decoder's, when kept) of a trained autoencoder of
        the same config."""
        keep = self.config["keep_decoder"]
        state = {k: v for k, v in model.state_dict().items()
                 if keep or not k.startswith("decoder.")}
        self.backbone.load_state_dict(state)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The parameters ``forward`` uses before the head: the encoder (and a VAE's mu and
        logvar), not the decoder; for a smaller learning rate than the head's."""
        return [p for k, p in self.backbone.named_parameters() if not k.startswith("decoder.")]

    def reconstruction_loss(self, x: Tensor) -> Tensor:
        """The autoencoder's own training loss on images ``x``, nats per image: its corruption
        included in training mode (a denoising autoencoder's), the negative ELBO for a VAE;
        needs ``keep_decoder=True``."""
        if not self.config["keep_decoder"]:
            raise ValueError("EncoderClassifier.reconstruction_loss: built without its decoder; "
                             "pass keep_decoder=True")
        self.backbone.noise = self._noise
        try:
            return self.backbone.loss(x)
        finally:
            self.backbone.noise = None

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Stop (or restart) gradient flow into the encoder: only the head learns."""
        self.frozen = bool(frozen)
        for p in self.backbone.parameters():
            p.requires_grad_(not frozen)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone.encode(x))
