"""Trajectory forecasters: from a pedestrian's observed positions, its future positions.

- :func:`constant_velocity`, :func:`linear_fit`: the baselines (no parameters);
- :class:`TrajectoryLSTM`: an LSTM encoder-decoder over relative displacements (deterministic);
- :class:`TrajectoryCVAE`: the same with a conditional-VAE latent (Kingma et al. 2014; Sohn et al.
  2015), so one observation gives many diverse futures (``sample``).

All take positions in metres (or any unit: ``scale`` is the typical step length in that unit)
and share one API, which the camera pipeline reuses on tracked detections:

>>> model = TrajectoryLSTM()
>>> future = model.predict(np.zeros((5, 8, 2)))           # (5, 12, 2), the same unit
>>> cvae = TrajectoryCVAE()
>>> samples = cvae.sample(np.zeros((5, 8, 2)), k=20)     # (20, 5, 12, 2)

Inside, each window is normalised on its own (:meth:`TrajectoryLSTM.normalise`): positions
become displacements (``x_t - x_{t-1}``: the forecast does not depend on where the pedestrian
is), turned so that the last observed one points along +x (``heading``: nor on the direction)
and divided by the window's mean step length (``speed_norm``: nor on the walking speed; else by
the fixed ``scale``). The decoder predicts each next displacement as the previous one plus a
learned correction: with the correction at zero (its initialisation) it *is* constant velocity,
and training learns where people turn, slow down and stop. With ``social``, what the nearest
others in the same frames are doing (:func:`neighbour_features`, pooled by a max over them, as
Social GAN's pooling module) shifts the encoder's state. The recipe (augmentation by random
rotation and reflection, the loss, the fold protocol) is ``deepwise/apps/trajectory.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, nn
from ..autograd import no_grad
from ..nn import functional as F
from ..ops import arith, reduce, shape
from ..tensor import Tensor, from_numpy

__all__ = ["constant_velocity", "linear_fit", "neighbour_features", "TrajectoryLSTM",
           "TrajectoryCVAE"]


def _observed(observed: Any, what: str, obs_len: int | None = None) -> Any:
    """``observed`` as a float array ``(N, T, 2)``, checked (a single track ``(T, 2)`` too)."""
    xp = backend.get_array_module(observed)
    obs = xp.asarray(observed, dtype=np.float64)
    if obs.ndim == 2:
        obs = obs[None]
    if obs.ndim != 3 or obs.shape[-1] != 2 or obs.shape[1] < 2:
        raise ValueError(f"{what}: expected observed positions of shape (N, T, 2) with T >= 2 "
                         f"(or one track (T, 2)), got {tuple(xp.shape(observed))}")
    if obs_len is not None and obs.shape[1] != obs_len:
        raise ValueError(f"{what}: this model observes {obs_len} positions per track, got "
                         f"{obs.shape[1]} (observed shape {tuple(obs.shape)})")
    if not bool(xp.isfinite(obs).all()):
        raise ValueError(f"{what}: observed positions contain NaN or Inf")
    return obs


def constant_velocity(observed: Any, pred_len: int = 12) -> Any:
    """Extrapolate the last observed displacement: ``x_{T+k} = x_T + k (x_T - x_{T-1})``.

    Shape: observed (N, T, 2) -> (N, pred_len, 2)."""
    obs = _observed(observed, "constant_velocity")
    xp = backend.get_array_module(obs)
    v = obs[:, -1] - obs[:, -2]
    return obs[:, -1:] + v[:, None] * xp.arange(1, pred_len + 1)[None, :, None]


def linear_fit(observed: Any, pred_len: int = 12) -> Any:
    """A least-squares line through the observed positions against time, per coordinate
    (``x(t) = a + b t``), extrapolated ``pred_len`` steps.

    Shape: observed (N, T, 2) -> (N, pred_len, 2)."""
    obs = _observed(observed, "linear_fit")
    xp = backend.get_array_module(obs)
    n, t = obs.shape[:2]
    design = xp.stack([xp.ones(t), xp.arange(t, dtype=np.float64)], 1)  # (T, 2)
    coef = xp.linalg.pinv(design) @ obs  # (N, 2 [a, b], 2 coords)
    future = xp.stack([xp.ones(pred_len), xp.arange(t, t + pred_len, dtype=np.float64)], 1)
    return future @ coef


def neighbour_features(observed: Any, groups: Any, k: int = 8) -> tuple[Any, Any]:
    """What each pedestrian sees of the others in its window (the same ``groups`` id: the
    pedestrians of the same frames) at the last observed step: for its ``k`` nearest,
    ``[dx, dy, dvx, dvy]`` (their position and last displacement minus its own, world frame),
    and which of the ``k`` slots are real.

    Shape: observed (N, T, 2), groups (N,) -> features (N, k, 4) float64, mask (N, k) bool."""
    obs = _observed(observed, "neighbour_features")
    xp = backend.get_array_module(obs)
    groups = xp.asarray(groups)
    n = obs.shape[0]
    if groups.shape != (n,):
        raise ValueError(f"neighbour_features: groups must have shape ({n},), got "
                         f"{tuple(groups.shape)}")
    state = xp.concatenate([obs[:, -1], obs[:, -1] - obs[:, -2]], 1)  # (N, 4)
    feats, mask = xp.zeros((n, k, 4)), xp.zeros((n, k), dtype=bool)
    order = xp.argsort(groups, kind="stable")
    bounds = xp.flatnonzero(xp.diff(groups[order])) + 1
    for members in xp.split(order, bounds):  # one window at a time (a few dozen people)
        if members.size < 2:
            continue
        rel = state[members][None, :] - state[members][:, None]  # (g, g, 4): j seen from i
        dist = xp.hypot(rel[..., 0], rel[..., 1]) + xp.where(xp.eye(members.size) > 0, xp.inf,
                                                             0.0)
        near = xp.argsort(dist, 1)[:, :min(k, members.size - 1)]  # (g, m)
        m = near.shape[1]
        feats[members, :m] = xp.take_along_axis(rel, near[..., None], 1)
        mask[members, :m] = True
    return feats, mask


class TrajectoryLSTM(nn.Module):
    """LSTM encoder-decoder over relative displacements.

    The encoder reads the ``obs_len - 1`` observed displacements (each embedded by
    Linear(2, E) + ReLU); the decoder, an LSTMCell started from the encoder's state, emits
    ``pred_len`` displacements one at a time, each fed back as its next input:
    ``d_t = d_{t-1} + head(h_t)`` (``head`` starts at zero, so the untrained model is constant
    velocity).

    Args:
        obs_len, pred_len: observed and predicted positions per track (8 and 12 in ETH/UCY).
        embed_size: E, the size of an embedded displacement.
        hidden_size: H, the LSTM state size.
        scale: displacements are divided by it without ``speed_norm`` (the typical step
            length: 0.4 m at 2.5 fps for a walker at 1 m/s); with it, the floor of a window's
            unit is ``0.1 * scale`` (someone standing still).
        heading: turn each window so that its last observed displacement points along +x.
        speed_norm: measure each window in units of its own mean observed step.
        social: pool over the ``neighbours`` nearest pedestrians of the same group (pass
            ``groups`` to :meth:`predict`; in ``forward``, ``neighbours=(features, mask)`` from
            :meth:`local_neighbours`).
        features: F > 0 lets the encoder read a feature vector per observed position beside
            it (e.g. a detector's appearance features of the pedestrian): each encoder step's
            input becomes ``ReLU(embed(d_t) + Linear(F, E)(f_t))``, ``f_t`` the features at
            the position the displacement ``d_t`` ends at. The feature layer starts at zero,
            so an untrained model ignores them (and with the same seed its other weights are
            those of the model without features). 0 (default): no feature input.

    Shape: forward takes scaled displacements ``(B, obs_len - 1, 2)`` and returns the predicted
    scaled displacements ``(B, pred_len, 2)``; :meth:`predict` works on positions
    ``(N, obs_len, 2) -> (N, pred_len, 2)``. Features, where the model takes them:
    ``(B, obs_len, F)``, one vector per observed position.
    """

    def __init__(self, obs_len: int = 8, pred_len: int = 12, embed_size: int = 32,
                 hidden_size: int = 64, scale: float = 0.4, heading: bool = True,
                 speed_norm: bool = True, social: bool = False, neighbours: int = 8,
                 features: int = 0) -> None:
        super().__init__()
        if obs_len < 2 or pred_len < 1 or scale <= 0:
            raise ValueError(f"{type(self).__name__}: need obs_len >= 2, pred_len >= 1 and "
                             f"scale > 0, got {obs_len}, {pred_len}, {scale}")
        self.obs_len, self.pred_len, self.scale = int(obs_len), int(pred_len), float(scale)
        self.embed_size, self.hidden_size = int(embed_size), int(hidden_size)
        self.heading, self.speed_norm = bool(heading), bool(speed_norm)
        self.embed = nn.Linear(2, embed_size)
        self.encoder = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.decoder = nn.LSTMCell(embed_size, hidden_size)
        self.head = nn.Linear(hidden_size, 2)
        self.social, self.neighbours = bool(social), int(neighbours)
        if self.social:
            self.social_embed = nn.Linear(4, embed_size)
            self.social_out = nn.Linear(embed_size, hidden_size)
        if int(features) < 0:
            raise ValueError(f"{type(self).__name__}: features must be >= 0, got {features}")
        self.features = int(features)
        if self.features:  # created last: the other weights draw the same numbers as without
            self.feature_embed = nn.Linear(self.features, embed_size)
        self.reset_parameters()

    @property
    def config(self) -> dict[str, Any]:
        out = {"obs_len": self.obs_len, "pred_len": self.pred_len,
               "embed_size": self.embed_size, "hidden_size": self.hidden_size,
               "scale": self.scale, "heading": self.heading,
               "speed_norm": self.speed_norm, "social": self.social,
               "neighbours": self.neighbours}
        if self.features:  # absent when 0: checkpoints without features are unchanged
            out["features"] = self.features
        return out

    def reset_parameters(self) -> None:
        """PyTorch's defaults, except the correction head at zero (constant velocity at init)
        and the feature layer at zero (the features start ignored)."""
        self.head.weight.data[...] = 0.0
        self.head.bias.data[...] = 0.0
        if self.features:
            self.feature_embed.weight.data[...] = 0.0
            self.feature_embed.bias.data[...] = 0.0

    def extra_repr(self) -> str:
        return (f"obs_len={self.obs_len}, pred_len={self.pred_len}, scale={self.scale}, "
                f"heading={self.heading}, speed_norm={self.speed_norm}, social={self.social}"
                + (f", features={self.features}" if self.features else ""))

    def _check(self, rel: Tensor) -> None:
        if rel.ndim != 3 or tuple(rel.shape[1:]) != (self.obs_len - 1, 2):
            raise ValueError(f"{type(self).__name__}: expected scaled displacements of shape "
                             f"(B, {self.obs_len - 1}, 2), got {tuple(rel.shape)}")

    def _check_features(self, rel: Tensor, features: Any) -> Tensor | None:
        """``features (B, obs_len, F)`` as the encoder's ``(B, obs_len - 1, F)`` (the vectors
        at the positions each displacement ends at); None where the model takes none."""
        if features is None:
            if self.features:
                raise ValueError(f"{type(self).__name__}: this model reads {self.features} "
                                 "features per observed position; pass features=(B, "
                                 f"{self.obs_len}, {self.features})")
            return None
        if not self.features:
            raise ValueError(f"{type(self).__name__}: features given to a model built without "
                             "them (features=0)")
        f = features if isinstance(features, Tensor) else from_numpy(
            backend.get_array_module(features).asarray(features, dtype=rel.dtype))
        want = (rel.shape[0], self.obs_len, self.features)
        if tuple(f.shape) != want:
            raise ValueError(f"{type(self).__name__}: expected features of shape {want}, got "
                             f"{tuple(f.shape)}")
        return f[:, 1:]

    def encode(self, rel: Tensor, neighbours: Any = None, features: Any = None
               ) -> tuple[Tensor, Tensor]:
        """The encoder's final ``(h, c)``, each ``(B, H)``, from displacements ``(B, T, 2)``;
        with ``social``, ``h`` plus what the neighbours ``(features (B, K, 4), mask (B, K))``
        in the model's frame contribute: ``Linear(max_k ReLU(Linear(f_k)) * mask_k)``; with
        ``features`` (B, obs_len, F), each step's embedding plus ``feature_embed(f_t)``."""
        f = self._check_features(rel, features)
        x = self.embed(rel)
        if f is not None:
            x = x + self.feature_embed(f)
        _, (h, c) = self.encoder(F.relu(x))
        h = h[0]
        if self.social and neighbours is not None:
            feats, mask = neighbours
            seen = F.relu(self.social_embed(feats)) * shape.unsqueeze(mask, -1)
            h = h + self.social_out(reduce.amax(seen, 1))
        return h, c[0]

    def decode(self, last: Tensor, h: Tensor, c: Tensor) -> Tensor:
        """``pred_len`` displacements ``(B, pred_len, 2)``, from the last observed one ``(B, 2)``
        and the decoder's initial state."""
        d, out = last, []
        for _ in range(self.pred_len):
            h, c = self.decoder(F.relu(self.embed(d)), (h, c))
            d = d + self.head(h)
            out.append(d)
        return shape.stack(out, 1)

    def forward(self, rel: Tensor, neighbours: Any = None, features: Any = None) -> Tensor:
        self._check(rel)
        h, c = self.encode(rel, neighbours, features)
        return self.decode(rel[:, -1], h, c)

    # --- positions in, positions out -------------------------------------------------------
    def normalise(self, observed: Any, future: Any = None) -> tuple[Any, Any, Any]:
        """A window in the model's frame: ``(rel (N, obs_len - 1, 2), future_rel
        (N, pred_len, 2) or None, rot (N, 2, 2))`` - displacements (float32) turned, with
        ``heading``, so that the last observed one points along +x, and divided by the window's
        mean step (``speed_norm``) or by ``scale``; ``rot`` maps world displacements into the
        model's frame (``local = world @ rot``, a rotation over a length)."""
        obs = _observed(observed, f"{type(self).__name__}", self.obs_len)
        xp = backend.get_array_module(obs)
        rel = obs[:, 1:] - obs[:, :-1]
        n = obs.shape[0]
        rot = xp.broadcast_to(xp.eye(2), (n, 2, 2))
        if self.heading:
            v = rel[:, -1]
            far = obs[:, -1] - obs[:, 0]  # a pedestrian standing still: the overall direction
            v = xp.where((xp.hypot(v[:, 0], v[:, 1]) < 1e-3)[:, None], far, v)
            norm = xp.hypot(v[:, 0], v[:, 1])
            c = xp.where(norm < 1e-6, 1.0, v[:, 0] / xp.maximum(norm, 1e-12))
            s = xp.where(norm < 1e-6, 0.0, v[:, 1] / xp.maximum(norm, 1e-12))
            rot = xp.stack([xp.stack([c, -s], -1), xp.stack([s, c], -1)], -2)
        if self.speed_norm:  # in units of the window's own mean step (a floor for those who stand)
            step = xp.maximum(xp.hypot(rel[..., 0], rel[..., 1]).mean(1), 0.1 * self.scale)
            rot = rot / step[:, None, None]
        else:
            rot = rot / self.scale
        rel = rel @ rot
        fut = None
        if future is not None:
            f = xp.asarray(future, dtype=np.float64)
            if f.shape != (n, self.pred_len, 2):
                raise ValueError(f"{type(self).__name__}: expected future positions of shape "
                                 f"({n}, {self.pred_len}, 2), got {tuple(f.shape)}")
            steps = xp.concatenate([obs[:, -1:], f], 1)
            fut = ((steps[:, 1:] - steps[:, :-1]) @ rot).astype(np.float32)
        return rel.astype(np.float32), fut, rot

    def denormalise(self, observed: Any, rel_future: Any, rot: Any) -> Any:
        """Positions ``(N, pred_len, 2)`` from the model's displacements (inverse of
        :meth:`normalise`): back to the world frame, summed from the last observed position."""
        xp = backend.get_array_module(rel_future)
        obs = xp.asarray(observed, dtype=np.float64)
        if obs.ndim == 2:
            obs = obs[None]
        steps = xp.asarray(rel_future, dtype=np.float64) @ xp.linalg.inv(rot)
        return obs[:, -1:] + xp.cumsum(steps, 1)

    def local_neighbours(self, feats: Any, mask: Any, rot: Any) -> tuple[Tensor, Tensor]:
        """World-frame neighbour features ``(N, K, 4)`` turned into each window's model frame
        (:meth:`normalise`'s ``rot``), as the tensors ``encode`` takes."""
        xp = backend.get_array_module(feats)
        n, k = feats.shape[:2]
        local = (xp.asarray(feats).reshape(n, 2 * k, 2) @ rot).reshape(n, k, 4)
        return (from_numpy(local.astype(np.float32)),
                from_numpy(xp.asarray(mask).astype(np.float32)))

    def _neighbours(self, observed: Any, groups: Any, rot: Any) -> Any:
        """A function of a batch's slice giving its neighbour tensors (None if not social)."""
        if not self.social or groups is None:
            return lambda sl: None
        feats, mask = neighbour_features(observed, groups, self.neighbours)
        return lambda sl: self.local_neighbours(feats[sl], mask[sl], rot[sl])

    def predict(self, observed: Any, groups: Any = None, batch_size: int = 4096,
                features: Any = None) -> Any:
        """Future positions ``(N, pred_len, 2)`` of observed positions ``(N, obs_len, 2)``
        (one track ``(obs_len, 2)`` gives ``(1, pred_len, 2)``), in eval mode, without grad.
        ``groups (N,)``: which tracks share a scene moment (a social model looks at the others
        of its group; without, each walks alone). ``features (N, obs_len, F)``: for a model
        built with ``features=F``."""
        rel, _, rot = self.normalise(observed)
        xp = backend.get_array_module(rel)
        nb = self._neighbours(observed, groups, rot)
        if features is not None:
            features = xp.asarray(features, dtype=np.float32)
            if features.ndim == 2:
                features = features[None]
        was = self.training
        self.eval()
        try:
            with no_grad():
                out = [self(from_numpy(rel[i:i + batch_size]), nb(slice(i, i + batch_size)),
                            None if features is None else features[i:i + batch_size]).data
                       for i in range(0, rel.shape[0], batch_size)]
        finally:
            self.train(was)
        return self.denormalise(observed, xp.concatenate(out) if out else
                                xp.zeros((0, self.pred_len, 2), np.float32), rot)


class TrajectoryCVAE(TrajectoryLSTM):
    """:class:`TrajectoryLSTM` with a latent ``z`` (a conditional VAE), for diverse futures.

    - prior ``p(z) = N(0, I)``;
    - posterior ``q(z | past, future) = N(mu_q, sigma_q^2)`` (training only): Linear(2H, 2Z) on
      ``[h, h_future]``, ``h_future`` from a second LSTM over the true future displacements;
    - the decoder starts from ``h' = tanh(Linear(H + Z, H)([h, z]))`` and the encoder's ``c``.

    Training minimises a reconstruction loss with ``z ~ q`` (reparameterised,
    ``z = mu + sigma * eps``) plus ``beta * KL(q || p)``; :meth:`sample` draws ``z ~ p``, and
    :meth:`predict` decodes the prior's mean ``z = 0`` (the single most likely future).
    The recipe can also train it by Social GAN's variety loss (``deepwise.apps.trajectory``,
    ``variety=K``): K prior draws per window, the best one counted; trained by that alone, the
    posterior and ``future_encoder`` go unused and the model is a noise-fed sampler.

    Shape: forward takes scaled displacements ``past (B, obs_len - 1, 2)`` and, in training,
    ``future (B, pred_len, 2)``; it returns ``(displacements (B, pred_len, 2), kl (B,))``, the
    KL term None when no future is given (then ``z`` is the prior's mean 0, or ``noise (B, Z)``
    drawn from it).
    """

    def __init__(self, obs_len: int = 8, pred_len: int = 12, embed_size: int = 32,
                 hidden_size: int = 64, scale: float = 0.4, heading: bool = True,
                 speed_norm: bool = True, social: bool = False, neighbours: int = 8,
                 latent_size: int = 16) -> None:
        super().__init__(obs_len, pred_len, embed_size, hidden_size, scale, heading, speed_norm,
                         social, neighbours)
        self.latent_size = int(latent_size)
        self.future_encoder = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.posterior = nn.Linear(2 * hidden_size, 2 * latent_size)
        self.latent_to_state = nn.Linear(hidden_size + latent_size, hidden_size)

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "latent_size": self.latent_size}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", latent_size={self.latent_size}"

    def _gaussian(self, stats: Tensor) -> tuple[Tensor, Tensor]:
        z = self.latent_size
        return stats[:, :z], arith.clamp(stats[:, z:], -8.0, 8.0)  # mean, log-variance

    def decode_latent(self, rel: Tensor, h: Tensor, c: Tensor, z: Tensor) -> Tensor:
        h0 = F.tanh(self.latent_to_state(shape.cat([h, z], 1)))
        return self.decode(rel[:, -1], h0, c)

    def forward(self, rel: Tensor, future: Tensor | None = None, noise: Tensor | None = None,
                neighbours: Any = None) -> tuple[Tensor, Tensor | None]:
        self._check(rel)
        h, c = self.encode(rel, neighbours)
        if future is None:  # no future: z from the prior N(0, I) (its mean 0, or ``noise``)
            z = noise if noise is not None else from_numpy(
                backend.get_array_module(h.data).zeros((h.shape[0], self.latent_size),
                                                       dtype=h.dtype))
            return self.decode_latent(rel, h, c, z), None
        z, kl = self.posterior_sample(h, future, noise)
        return self.decode_latent(rel, h, c, z), kl

    def posterior_sample(self, h: Tensor, future: Tensor, noise: Tensor | None = None
                         ) -> tuple[Tensor, Tensor]:
        """``(z (B, Z), kl (B,))``: a reparameterised draw from ``q(z | past, future)`` (the
        encoder's state ``h (B, H)`` and the true future displacements ``(B, pred_len, 2)``;
        ``noise (B, Z)`` is the standard normal draw, default deepwise's RNG) and
        ``KL(q || p)`` per window."""
        _, (hf, _) = self.future_encoder(F.relu(self.embed(future)))
        mu, logvar = self._gaussian(self.posterior(shape.cat([h, hf[0]], 1)))
        if noise is None:
            noise = from_numpy(backend.default_generator().standard_normal(
                mu.shape).astype(mu.dtype))
        z = mu + arith.exp(0.5 * logvar) * noise
        # KL(N(mu, s^2) || N(0, I)) = 1/2 sum(s^2 + mu^2 - 1 - log s^2), over latent dimensions
        kl = 0.5 * reduce.sum(arith.exp(logvar) + mu * mu - 1.0 - logvar, 1)
        return z, kl

    def predict(self, observed: Any, groups: Any = None, batch_size: int = 4096) -> Any:
        """The most likely future ``(N, pred_len, 2)``: decoded from the prior's mean."""
        return self.sample(observed, k=0, groups=groups, batch_size=batch_size)[0]

    def sample(self, observed: Any, k: int = 20, groups: Any = None, batch_size: int = 4096,
               generator: np.random.Generator | None = None, joint: bool = True,
               temperature: float = 1.0) -> Any:
        """``k`` futures per track, ``(k, N, pred_len, 2)``, with ``z`` drawn from the prior
        (``k=0``: one, from the prior's mean), scaled by ``temperature`` (< 1: closer to the
        most likely future). With ``groups`` and ``joint``, the tracks of one group share each
        draw of ``z`` (a sample is one future of the whole scene: each track's own futures are
        distributed as without). ``generator`` defaults to deepwise's seeded RNG."""
        rel, _, rot = self.normalise(observed)
        xp = backend.get_array_module(rel)
        nb = self._neighbours(observed, groups, rot)
        rng = backend.default_generator() if generator is None else generator
        n = rel.shape[0]
        ids = (xp.unique(xp.asarray(groups), return_inverse=True)[1].reshape(-1)
               if groups is not None and joint else xp.arange(n))
        was = self.training
        self.eval()
        draws = []
        try:
            with no_grad():
                for _ in range(max(k, 1)):
                    z = rng.standard_normal((int(ids.max()) + 1 if n else 0, self.latent_size))
                    z = (temperature * z).astype(np.float32)[ids]
                    out = []
                    for i in range(0, n, batch_size):
                        part = rel[i:i + batch_size]
                        noise = None if k == 0 else from_numpy(z[i:i + batch_size])
                        out.append(self(from_numpy(part), noise=noise,
                                        neighbours=nb(slice(i, i + batch_size)))[0].data)
                    rf = xp.concatenate(out) if out else xp.zeros((0, self.pred_len, 2))
                    draws.append(self.denormalise(observed, rf, rot))
        finally:
            self.train(was)
        return xp.stack(draws)
