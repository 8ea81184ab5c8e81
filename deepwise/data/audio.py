"""Audio: reading WAV files, and the features speech recognisers hear - step by step, in NumPy.

From sound to features, in the order they are applied:

1. :func:`load_wav` - a WAV file (16/24/32-bit or 8-bit PCM, read with the standard library's
   ``wave``) as float32 samples in [-1, 1], mixed down to mono and resampled to the rate asked for
   (:func:`resample`, a polyphase filter from SciPy) - or refused with a message that says why.
2. :func:`frame` - overlapping frames (a strided view, no copy); :func:`get_window` - the Hann
   window that tapers each frame so the FFT does not see its cut edges as a click.
3. :func:`stft` - the short-time Fourier transform: ``np.fft.rfft`` of each windowed frame, shape
   ``(1 + n_fft // 2, frames)``; ``|X|^2`` is the power spectrogram.
4. :func:`mel_filterbank` - triangular filters evenly spaced on the mel scale (perceived pitch:
   linear below 1 kHz, logarithmic above; Slaney's formula, as librosa) summing the spectrum
   into ``n_mels`` bands: :func:`melspectrogram`.
5. :func:`power_to_db` - the log (decibels) compresses the huge dynamic range: the log-mel
   spectrogram (:func:`log_mel_spectrogram`).
6. :func:`mfcc` - a DCT-II (:func:`dct_matrix`) along the mel axis decorrelates the bands; the
   first ``n_mfcc`` coefficients describe the spectral envelope (the vocal tract), not the pitch.
7. :func:`normalize` - per-utterance mean and variance normalisation of each feature (removes the
   microphone's and the speaker's constant colouring).

Augmentation (training only): :func:`time_shift`, :func:`add_noise` at an exact SNR, and
:func:`spec_augment`'s time and frequency masks (Park et al., 2019).

The defaults match librosa's (``center=True`` zero padding, periodic Hann window, Slaney mel
scale and area normalisation, orthonormal DCT), and ``tests/test_audio.py`` checks each step
against librosa on the same signal.
"""

from __future__ import annotations

import io
import math
import os
import wave
from typing import IO, Any

import numpy as np

__all__ = ["WavError", "read_wav", "load_wav", "encode_wav", "resample", "frame", "get_window",
           "stft", "power_spectrogram", "hz_to_mel", "mel_to_hz", "mel_frequencies",
           "fft_frequencies", "mel_filterbank", "melspectrogram", "power_to_db",
           "log_mel_spectrogram", "dct_matrix", "mfcc", "normalize", "rms_db", "is_silent",
           "time_shift", "add_noise", "spec_augment"]


class WavError(ValueError):
    """A file is not a WAV file deepwise can read (not RIFF/WAVE, compressed, empty, too long,
    a sample rate it may not resample); the message names the file and what was wrong."""


# --------------------------------------------------------------------------------------------
# reading and writing WAV


def _name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", "<file object>")


def read_wav(source: str | os.PathLike | IO[bytes]) -> tuple[np.ndarray, int]:
    """``(samples, sample_rate)`` of a PCM WAV file: float32 in [-1, 1], shape ``(n,)`` for mono
    or ``(n, channels)``. Integer PCM of 8 (unsigned), 16, 24 or 32 bits; anything else raises
    :class:`WavError` naming the file."""
    name = _name(source)
    try:
        if not isinstance(source, (str, os.PathLike)):
            source = io.BytesIO(source.read())
        with wave.open(source if not isinstance(source, os.PathLike) else os.fspath(source),
                       "rb") as w:
            channels, width, rate, n = (w.getnchannels(), w.getsampwidth(), w.getframerate(),
                                        w.getnframes())
            raw = w.readframes(n)
    except wave.Error as e:
        if "RIFF" in str(e) or "WAVE" in str(e):
            raise WavError(f"read_wav: '{name}' is not a WAV file ({e}); deepwise reads "
                           "RIFF/WAVE PCM files") from None
        hint = (" (a WAV of 32-bit float or compressed samples: convert it to 16-bit PCM, e.g. "
                "'sox in.wav -b 16 out.wav')" if "unknown format" in str(e) else "")
        raise WavError(f"read_wav: cannot read '{name}': {e}{hint}") from None
    except EOFError:
        raise WavError(f"read_wav: '{name}' is truncated or not a WAV file (no complete RIFF "
                       f"header)") from None
    if width not in (1, 2, 3, 4):
        raise WavError(f"read_wav: '{name}' has {8 * width}-bit samples; deepwise reads 8, 16, 24 "
                       f"and 32-bit PCM")
    n = len(raw) // (width * channels)
    raw = raw[:n * width * channels]
    if width == 1:  # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:  # 24-bit little-endian: widen each sample to 4 bytes
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        wide = np.zeros((b.shape[0], 4), np.uint8)
        wide[:, 1:] = b
        x = wide.view("<i4").reshape(-1).astype(np.float32) / 2.0 ** 31
    else:
        dt = "<i2" if width == 2 else "<i4"
        x = np.frombuffer(raw, dt).astype(np.float32) / float(2 ** (8 * width - 1))
    x = x.reshape(n, channels)
    return (x[:, 0].copy() if channels == 1 else x), int(rate)


def load_wav(source: str | os.PathLike | IO[bytes], sample_rate: int | None = 8000, *,
             mono: bool = True, resample_ok: bool = True, max_seconds: float | None = None
             ) -> np.ndarray:
    """A WAV file as float32 samples at ``sample_rate`` (None: the file's own rate).

    Stereo is averaged to mono (``mono=False`` refuses it instead); another rate is resampled
    (:func:`resample`) or, with ``resample_ok=False``, refused. A file with no samples, or longer
    than ``max_seconds``, raises :class:`WavError` saying so.
    """
    name = _name(source)
    x, rate = read_wav(source)
    if x.ndim == 2:
        if not mono:
            raise WavError(f"load_wav: '{name}' has {x.shape[1]} channels; mono audio expected")
        x = x.mean(axis=1)
    if x.size == 0:
        raise WavError(f"load_wav: '{name}' holds no samples (an empty recording)")
    if max_seconds is not None and x.size / rate > max_seconds:
        raise WavError(f"load_wav: '{name}' lasts {x.size / rate:.1f} s, longer than the "
                       f"{max_seconds:g} s allowed; cut it into shorter pieces")
    if sample_rate is not None and rate != sample_rate:
        if not resample_ok:
            raise WavError(f"load_wav: '{name}' is sampled at {rate} Hz, but {sample_rate} Hz is "
                           f"expected (resample it, e.g. 'sox in.wav -r {sample_rate} out.wav')")
        x = resample(x, rate, sample_rate)
    return x


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit PCM WAV file's bytes for mono or ``(n, channels)`` float samples in [-1, 1]
    (write them with ``deepwise.io.atomic_write(path, "wb")``)."""
    x = np.asarray(samples, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """``x`` resampled from ``orig_sr`` to ``target_sr`` Hz by a polyphase FIR filter
    (``scipy.signal.resample_poly``: upsample by ``p``, low-pass, downsample by ``q``,
    ``p / q = target / orig`` in lowest terms). Needs SciPy; without it, raises WavError."""
    if orig_sr == target_sr:
        return np.asarray(x, np.float32)
    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise WavError(f"resample: audio at {orig_sr} Hz needs resampling to {target_sr} Hz, "
                       f"which needs SciPy (pip install scipy), or resample it yourself") from None
    g = math.gcd(int(orig_sr), int(target_sr))
    return resample_poly(np.asarray(x, np.float64), target_sr // g, orig_sr // g,
                         axis=-1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# framing, windows, STFT


def frame(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Frames of ``frame_length`` samples every ``hop_length``: a read-only strided view of shape
    ``(..., frame_length, n_frames)`` (librosa's layout), ``n_frames = 1 + (n - L) // hop``."""
    x = np.asarray(x)
    if x.shape[-1] < frame_length:
        raise ValueError(f"frame: the signal has {x.shape[-1]} samples, fewer than one frame of "
                         f"{frame_length}")
    v = np.lib.stride_tricks.sliding_window_view(x, frame_length, axis=-1)[..., ::hop_length, :]
    return np.swapaxes(v, -1, -2)


def get_window(name: str, n: int, periodic: bool = True) -> np.ndarray:
    """A window of ``n`` points: ``'hann'`` (``0.5 - 0.5 cos(2 pi k / N)``), ``'hamming'``
    (``0.54 - 0.46 cos``) or ``'ones'``. ``periodic``: ``N = n`` (for spectra, as librosa and
    scipy's ``fftbins=True``); otherwise ``N = n - 1`` (symmetric)."""
    if name == "ones" or name == "boxcar":
        return np.ones(n)
    big_n = n if periodic else n - 1
    k = np.arange(n)
    c = np.cos(2 * np.pi * k / max(big_n, 1))
    if name == "hann":
        return 0.5 - 0.5 * c
    if name == "hamming":
        return 0.54 - 0.46 * c
    raise ValueError(f"get_window: unknown window {name!r} (hann, hamming or ones)")


def stft(x: np.ndarray, n_fft: int = 256, hop_length: int | None = None,
         win_length: int | None = None, window: str = "hann", center: bool = True,
         pad_mode: str = "constant") -> np.ndarray:
    """The short-time Fourier transform: complex ``(..., 1 + n_fft // 2, n_frames)``.

    Each frame of ``n_fft`` samples (every ``hop_length``, default ``n_fft // 4``) is multiplied
    by the window (``win_length`` points, default ``n_fft``, zero-padded to ``n_fft`` in the
    middle) and transformed by ``np.fft.rfft``. ``center``: the signal is padded by
    ``n_fft // 2`` on both sides (``pad_mode`` as ``np.pad``), so frame ``t`` is centred on
    sample ``t * hop_length``.
    """
    hop = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    if win_length > n_fft:
        raise ValueError(f"stft: win_length={win_length} must be <= n_fft={n_fft}")
    x = np.asarray(x, np.float64 if np.asarray(x).dtype == np.float64 else np.float32)
    w = get_window(window, win_length)
    left = (n_fft - win_length) // 2
    w = np.pad(w, (left, n_fft - win_length - left)).astype(x.dtype)
    if center:
        pad = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
        x = np.pad(x, pad, mode=pad_mode)
    frames = frame(x, n_fft, hop)                        # (..., n_fft, T)
    return np.fft.rfft(frames * w[:, None], axis=-2)    # (..., 1 + n_fft // 2, T)


def power_spectrogram(x: np.ndarray, n_fft: int = 256, hop_length: int | None = None,
                      win_length: int | None = None, power: float = 2.0, **kw: Any) -> np.ndarray:
    """``|stft(x)| ** power`` (2: power, 1: magnitude), real ``(..., 1 + n_fft // 2, T)``."""
    s = np.abs(stft(x, n_fft, hop_length, win_length, **kw))
    return s ** 2 if power == 2 else s ** power


# --------------------------------------------------------------------------------------------
# the mel scale and its filterbank

_F_SP = 200.0 / 3            # Slaney: 66.67 Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(f: Any, htk: bool = False) -> np.ndarray:
    """Hz -> mel. HTK: ``2595 log10(1 + f / 700)``; Slaney (default, librosa's): linear
    ``f / 66.67`` below 1 kHz, logarithmic above (27 mels per factor 6.4)."""
    f = np.asarray(f, np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    lin = f / _F_SP
    with np.errstate(divide="ignore"):
        log = _MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log, lin)


def mel_to_hz(m: Any, htk: bool = False) -> np.ndarray:
    """mel -> Hz, the inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)),
                    _F_SP * m)


def mel_frequencies(n: int, fmin: float = 0.0, fmax: float = 4000.0, htk: bool = False
                    ) -> np.ndarray:
    """``n`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n), htk)


def fft_frequencies(sr: int, n_fft: int) -> np.ndarray:
    """The centre frequency (Hz) of each rfft bin: ``k * sr / n_fft``, k = 0 .. n_fft // 2."""
    return np.arange(1 + n_fft // 2) * (sr / n_fft)


def mel_filterbank(sr: int, n_fft: int, n_mels: int = 40, fmin: float = 0.0,
                   fmax: float | None = None, htk: bool = False, norm: str | None = "slaney"
                   ) -> np.ndarray:
    """Triangular mel filters ``(n_mels, 1 + n_fft // 2)``: filter ``m`` rises from mel point
    ``m`` to ``m + 1`` and falls to ``m + 2`` (``n_mels + 2`` points evenly spaced in mels).
    ``norm='slaney'`` divides each by its width in Hz / 2 (equal area: constant energy per band
    for white noise); None leaves a peak of 1."""
    fmax = sr / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sr / 2:
        raise ValueError(f"mel_filterbank: need 0 <= fmin < fmax <= sr/2 = {sr / 2:g}, got "
                         f"fmin={fmin}, fmax={fmax}")
    freqs = fft_frequencies(sr, n_fft)
    pts = mel_frequencies(n_mels + 2, fmin, fmax, htk)
    widths = np.diff(pts)
    ramps = pts[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        fb *= (2.0 / (pts[2:] - pts[:-2]))[:, None]
    elif norm is not None:
        raise ValueError(f"mel_filterbank: norm must be 'slaney' or None, got {norm!r}")
    return fb


def melspectrogram(x: np.ndarray, sr: int = 8000, n_fft: int = 256, hop_length: int = 80,
                   win_length: int | None = 200, n_mels: int = 40, fmin: float = 0.0,
                   fmax: float | None = None, power: float = 2.0, **kw: Any) -> np.ndarray:
    """The mel spectrogram ``(..., n_mels, T)``: the mel filterbank applied to
    ``|stft|^power``. Defaults for 8 kHz speech: 25 ms windows (200 samples), 10 ms hop."""
    s = power_spectrogram(x, n_fft, hop_length, win_length, power, **kw)
    fb = mel_filterbank(sr, n_fft, n_mels, fmin, fmax).astype(s.dtype)
    return np.matmul(fb, s)


def power_to_db(s: np.ndarray, ref: float = 1.0, amin: float = 1e-10,
                top_db: float | None = 80.0) -> np.ndarray:
    """``10 log10(max(s, amin) / ref)``, floored at ``max - top_db`` (per array, as librosa)."""
    db = 10.0 * np.log10(np.maximum(s, amin)) - 10.0 * np.log10(max(amin, ref))
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db


def log_mel_spectrogram(x: np.ndarray, sr: int = 8000, n_mels: int = 40, top_db: float = 80.0,
                        **kw: Any) -> np.ndarray:
    """``power_to_db(melspectrogram(x))``: the log-mel spectrogram ``(n_mels, T)`` in dB."""
    return power_to_db(melspectrogram(x, sr, n_mels=n_mels, **kw), top_db=top_db)


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """The orthonormal DCT-II as a matrix ``(n_out, n_in)``:
    ``D[k, m] = sqrt(2 / n_in) cos(pi k (2m + 1) / (2 n_in))``, row 0 scaled by ``1 / sqrt 2``
    (so ``D @ D.T = I`` when ``n_out = n_in``; ``scipy.fft.dct(type=2, norm='ortho')``)."""
    k = np.arange(n_out)[:, None]
    m = np.arange(n_in)[None, :]
    d = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * m + 1) / (2 * n_in))
    d[0] /= np.sqrt(2.0)
    return d


def mfcc(x: np.ndarray, sr: int = 8000, n_mfcc: int = 13, n_mels: int = 40, **kw: Any
         ) -> np.ndarray:
    """Mel-frequency cepstral coefficients ``(n_mfcc, T)``: the DCT-II of the log-mel
    spectrogram along the mel axis (librosa.feature.mfcc's definition)."""
    lm = log_mel_spectrogram(x, sr, n_mels=n_mels, **kw)
    return dct_matrix(n_mfcc, n_mels).astype(lm.dtype) @ lm


def normalize(features: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Per-utterance mean and variance normalisation: each row (feature) of ``(F, T)`` gets
    mean 0 and standard deviation 1 over time (constant rows: 0)."""
    f = np.asarray(features)
    mu = f.mean(axis=-1, keepdims=True)
    sd = f.std(axis=-1, keepdims=True)
    return ((f - mu) / (sd + eps)).astype(f.dtype)


def rms_db(x: np.ndarray) -> float:
    """The signal's RMS level in dB relative to full scale (a full-scale sine: -3 dB)."""
    x = np.asarray(x, np.float64)
    return float(10.0 * np.log10(max(float(np.mean(x * x)) if x.size else 0.0, 1e-20)))


def is_silent(x: np.ndarray, threshold_db: float = -60.0) -> bool:
    """True when the signal's RMS level is below ``threshold_db`` dBFS (digital silence,
    or hum far below speech, which sits around -30 to -15 dBFS)."""
    return rms_db(x) < threshold_db


# --------------------------------------------------------------------------------------------
# augmentation


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is not None:
        return rng
    from ..backend import default_generator

    return default_generator()


def time_shift(x: np.ndarray, max_shift: int, rng: np.random.Generator | None = None
               ) -> np.ndarray:
    """Shift the signal by a random number of samples in ``[-max_shift, max_shift]``, filling
    with zeros (the length is kept)."""
    s = int(_rng(rng).integers(-max_shift, max_shift + 1)) if max_shift > 0 else 0
    out = np.zeros_like(x)
    if s >= 0:
        out[s:] = x[:x.shape[-1] - s]
    else:
        out[:s] = x[-s:]
    return out


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator | None = None,
              noise: np.ndarray | None = None) -> np.ndarray:
    """``x`` plus noise (white Gaussian, or the given ``noise``) scaled so that
    ``10 log10(P_signal / P_noise) = snr_db`` exactly. A silent ``x`` is returned unchanged."""
    x = np.asarray(x)
    n = _rng(rng).standard_normal(x.shape) if noise is None else np.asarray(noise, np.float64)
    ps, pn = float(np.mean(np.square(x, dtype=np.float64))), float(np.mean(n * n))
    if ps == 0 or pn == 0:
        return x.copy()
    return (x + n * math.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0)))).astype(x.dtype)


def spec_augment(spec: np.ndarray, freq_masks: int = 2, freq_width: int = 6,
                 time_masks: int = 2, time_width: int = 8, value: float | None = None,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """SpecAugment masks on a ``(F, T)`` spectrogram (a copy): ``freq_masks`` bands of up to
    ``freq_width`` rows and ``time_masks`` spans of up to ``time_width`` frames are set to
    ``value`` (default: the spectrogram's mean)."""
    out = np.array(spec, copy=True)
    r = _rng(rng)
    fill = float(out.mean()) if value is None else value
    n_f, n_t = out.shape[-2:]
    for size, width, axis in ((n_f, freq_width, -2), (n_t, time_width, -1)):
        for _ in range(freq_masks if axis == -2 else time_masks):
            w = int(r.integers(0, min(width, size) + 1))
            if w == 0:
                continue
            start = int(r.integers(0, size - w + 1))
            if axis == -2:
                out[..., start:start + w, :] = fill
            else:
                out[..., start:start + w] = fill
    return out
