"""deepwise.data.audio: WAV files (every PCM width, stereo, other rates, bad files), the features
against librosa on the same signal and against analytic cases, augmentation; the FSDD reader."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from conftest import shared_data

from deepwise.data import audio as A

SR = 8000
FEAT = dict(n_fft=256, hop_length=80, win_length=200)


def _tone(freq: float, seconds: float = 0.5, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _speechlike(seed: int = 0) -> np.ndarray:
    """Noise through a few resonances: a broad-band test signal with structure."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(4000) * 0.05
    return (x + _tone(300, amp=0.2) + _tone(1250, amp=0.1) + _tone(2900, amp=0.05)).astype(
        np.float32)


def _write_raw(path, frames: bytes, width: int, channels: int = 1, rate: int = SR) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)


# ---- WAV files ---------------------------------------------------------------------------------


def test_wav_round_trip_16_bit(tmp_path):  # encode_wav -> read_wav
    x = _tone(440)
    (tmp_path / "a.wav").write_bytes(A.encode_wav(x, SR))
    y, rate = A.read_wav(tmp_path / "a.wav")
    assert rate == SR and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1 / 32767)
    with open(tmp_path / "a.wav", "rb") as f:  # a file object works too
        np.testing.assert_array_equal(A.read_wav(f)[0], y)


@pytest.mark.parametrize("width", [1, 3, 4])
def test_wav_8_24_32_bit_pcm(tmp_path, width):
    x = np.array([0.0, 0.5, -0.5, 0.25, -1.0])
    if width == 1:  # unsigned, 128 = 0
        raw = (np.round(x * 127) + 128).astype(np.uint8).tobytes()
    else:
        ints = np.round(x * (2 ** (8 * width - 1) - 1)).astype("<i4")
        raw = ints.tobytes() if width == 4 else b"".join(int(i).to_bytes(3, "little", signed=True)
                                                         for i in ints)
    _write_raw(tmp_path / "w.wav", raw, width)
    y, _ = A.read_wav(tmp_path / "w.wav")
    np.testing.assert_allclose(y, x, atol=1.5 / 128 if width == 1 else 1e-6)


def test_stereo_is_mixed_down_or_refused(tmp_path):
    left, right = _tone(440), _tone(440) * 0.0
    (tmp_path / "s.wav").write_bytes(A.encode_wav(np.stack([left, right], 1), SR))
    y, _ = A.read_wav(tmp_path / "s.wav")
    assert y.shape == (left.size, 2)
    np.testing.assert_allclose(A.load_wav(tmp_path / "s.wav"), left / 2, atol=1e-4)
    with pytest.raises(A.WavError, match="2 channels; mono audio expected"):
        A.load_wav(tmp_path / "s.wav", mono=False)


def test_44k1_file_is_resampled_keeping_its_pitch_or_refused(tmp_path):
    (tmp_path / "cd.wav").write_bytes(A.encode_wav(_tone(1000, sr=44100), 44100))
    y = A.load_wav(tmp_path / "cd.wav", SR)
    assert y.size == SR // 2
    spec = np.abs(np.fft.rfft(y[1000:3048]))
    assert np.argmax(spec) * SR / 2048 == pytest.approx(1000, abs=SR / 2048)
    with pytest.raises(A.WavError, match="44100 Hz, but 8000 Hz is expected"):
        A.load_wav(tmp_path / "cd.wav", SR, resample_ok=False)


def test_bad_files_are_refused_naming_the_file(tmp_path):
    (tmp_path / "notes.wav").write_text("this is not audio\n")
    with pytest.raises(A.WavError, match=r"notes\.wav.*not a WAV|notes\.wav.*RIFF"):
        A.read_wav(tmp_path / "notes.wav")
    (tmp_path / "zero.wav").write_bytes(b"")
    with pytest.raises(A.WavError, match="zero.wav"):
        A.read_wav(tmp_path / "zero.wav")
    _write_raw(tmp_path / "empty.wav", b"", 2)
    with pytest.raises(A.WavError, match="empty.wav' holds no samples"):
        A.load_wav(tmp_path / "empty.wav")


def test_ten_minute_file_is_refused_over_the_limit(tmp_path):
    _write_raw(tmp_path / "long.wav", bytes(2 * SR * 600), 2)
    with pytest.raises(A.WavError, match=r"lasts 600\.0 s, longer than the 60 s allowed"):
        A.load_wav(tmp_path / "long.wav", max_seconds=60)
    assert A.load_wav(tmp_path / "long.wav").size == SR * 600


def test_silence_is_detected():
    assert A.is_silent(np.zeros(SR)) and A.is_silent(np.full(SR, 1e-5))
    assert not A.is_silent(_tone(300, amp=0.05))
    assert A.rms_db(_tone(300, seconds=1.0, amp=1.0)) == pytest.approx(-3.01, abs=0.01)


# ---- features against analytic cases -----------------------------------------------------------


def test_frame_is_a_strided_view():
    x = np.arange(10.0)
    f = A.frame(x, 4, 3)
    assert f.shape == (4, 3) and np.shares_memory(f, x)
    np.testing.assert_array_equal(f[:, 2], [6, 7, 8, 9])
    with pytest.raises(ValueError, match="fewer than one frame"):
        A.frame(x, 11, 1)


def test_pure_tone_peaks_at_its_bin_and_lands_in_its_mel_band():
    for freq in (250.0, 1000.0, 2500.0):
        x = _tone(freq)
        p = A.power_spectrogram(x, 256, 80)
        assert np.argmax(p[:, 20]) == round(freq * 256 / SR)
        mel = A.melspectrogram(x, SR, n_mels=40, **FEAT)
        centres = A.mel_frequencies(42, 0, SR / 2)[1:-1]  # each filter's peak
        band = int(np.argmax(mel[:, 20]))
        assert band == int(np.argmin(np.abs(centres - freq))), (freq, band)
        assert mel[band, 20] > 10 * np.delete(mel[:, 20], [band - 1, band, band + 1]).max()


def test_hann_window_power_matches_parseval():
    # a full-scale sine of amplitude a at an exact bin k: |X_k| = a * sum(w) / 2
    k, n = 32, 256
    x = _tone(k * SR / n, amp=1.0)
    s = np.abs(A.stft(x, n, 80, center=False))
    assert s[k].mean() == pytest.approx(A.get_window("hann", n).sum() / 2, rel=1e-4)


def test_dct_matrix_is_orthonormal_and_is_scipys_dct():
    d = A.dct_matrix(40, 40)
    np.testing.assert_allclose(d @ d.T, np.eye(40), atol=1e-12)
    from scipy.fft import dct

    x = np.random.default_rng(0).standard_normal(40)
    np.testing.assert_allclose(A.dct_matrix(13, 40) @ x, dct(x, norm="ortho")[:13], atol=1e-12)


def test_mel_scale_round_trip_and_known_points():
    f = np.array([0.0, 500.0, 1000.0, 3999.0])
    np.testing.assert_allclose(A.mel_to_hz(A.hz_to_mel(f)), f, atol=1e-8)
    assert A.hz_to_mel(1000.0) == pytest.approx(15.0)  # Slaney: 1 kHz is 15 mels
    assert A.hz_to_mel(1000.0, htk=True) == pytest.approx(999.99, abs=0.02)


def test_normalize_per_feature():
    f = np.random.default_rng(1).standard_normal((13, 50)) * 4 + 7
    n = A.normalize(f)
    np.testing.assert_allclose(n.mean(1), 0, atol=1e-10)
    np.testing.assert_allclose(n.std(1), 1, atol=1e-4)


# ---- features against librosa (test-only dependency) -------------------------------------------
# tolerance: float32 signal; STFT and mel power to 1e-5 of the largest value, dB to 1e-3 dB,
# MFCC to 1e-3 absolute (values up to ~300), the filterbank to 1e-8.


def test_stft_mel_logmel_mfcc_match_librosa():
    librosa = pytest.importorskip("librosa", reason="librosa not installed: pip install librosa")
    x = _speechlike()
    s, ref = A.stft(x, **FEAT), librosa.stft(x, **FEAT)
    assert s.shape == ref.shape
    np.testing.assert_allclose(s, ref, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(A.mel_filterbank(SR, 256, 40),
                               librosa.filters.mel(sr=SR, n_fft=256, n_mels=40), atol=1e-8)
    np.testing.assert_allclose(A.mel_filterbank(SR, 256, 23, 100, 3800, htk=True, norm=None),
                               librosa.filters.mel(sr=SR, n_fft=256, n_mels=23, fmin=100,
                                                   fmax=3800, htk=True, norm=None), atol=1e-8)
    mel = A.melspectrogram(x, SR, n_mels=40, **FEAT)
    mref = librosa.feature.melspectrogram(y=x, sr=SR, n_mels=40, **FEAT)
    np.testing.assert_allclose(mel, mref, atol=1e-5 * mref.max())
    np.testing.assert_allclose(A.log_mel_spectrogram(x, SR, **FEAT), librosa.power_to_db(mref),
                               atol=1e-3)
    np.testing.assert_allclose(A.mfcc(x, SR, n_mfcc=13, **FEAT),
                               librosa.feature.mfcc(y=x, sr=SR, n_mfcc=13, n_mels=40, **FEAT),
                               atol=1e-3)
    np.testing.assert_allclose(A.stft(x, 256, 64, pad_mode="reflect"),
                               librosa.stft(x, n_fft=256, hop_length=64, pad_mode="reflect"),
                               atol=1e-5 * np.abs(ref).max())


def test_resample_matches_librosa_polyphase():
    librosa = pytest.importorskip("librosa", reason="librosa not installed: pip install librosa")
    x = _speechlike()
    for target in (16000, 11025):
        np.testing.assert_allclose(A.resample(x, SR, target),
                                   librosa.resample(x, orig_sr=SR, target_sr=target,
                                                    res_type="polyphase"), atol=1e-5)


# ---- augmentation ------------------------------------------------------------------------------


def test_add_noise_hits_the_snr_exactly():
    x = _tone(500)
    for snr in (0.0, 10.0, 20.0):
        y = A.add_noise(x, snr, rng=np.random.default_rng(2))
        noise = (y - x).astype(np.float64)
        measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise ** 2))
        assert measured == pytest.approx(snr, abs=0.01)
    np.testing.assert_array_equal(A.add_noise(np.zeros(10), 10.0), np.zeros(10))


def test_time_shift_keeps_length_and_moves_the_signal():
    x = np.arange(1.0, 11.0)
    for seed in range(5):
        y = A.time_shift(x, 3, rng=np.random.default_rng(seed))
        assert y.shape == x.shape
        nz = np.flatnonzero(y)
        s = int(y[nz[0]] - 1 - nz[0]) * -1  # where the first kept sample went
        assert abs(s) <= 3
        np.testing.assert_array_equal(y[nz], x[nz - s])


def test_spec_augment_masks_bands_and_spans():
    spec = np.random.default_rng(3).standard_normal((40, 100)) + 5
    out = A.spec_augment(spec, freq_masks=1, freq_width=6, time_masks=1, time_width=10,
                         value=0.0, rng=np.random.default_rng(4))
    rows = np.flatnonzero((out == 0).all(axis=1))
    cols = np.flatnonzero((out == 0).all(axis=0))
    assert 0 < len(rows) <= 6 and 0 < len(cols) <= 10
    assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)  # one contiguous mask each
    kept = np.ones_like(spec, bool)
    kept[rows] = False
    kept[:, cols] = False
    np.testing.assert_array_equal(out[kept], spec[kept])
    assert not np.shares_memory(out, spec)


# ---- the FSDD reader ---------------------------------------------------------------------------


def test_fsdd_official_split(tmp_path, monkeypatch):
    from deepwise.data.datasets import FSDD

    path = shared_data("fsdd")
    test = FSDD(path, train=False)
    assert len(test) == 250 and set(test.indices.tolist()) == set(range(5))
    assert np.bincount(test.targets).tolist() == [25] * 10
    assert sorted(set(test.speakers)) == ["george", "jackson", "nicolas", "theo", "yweweler"]
    x, y = test[0]
    assert x.dtype == np.float32 and x.ndim == 1 and 0 <= y <= 9 and np.abs(x).max() <= 1
    assert test.files[0].startswith(f"{y}_")
    theo = FSDD(path, split="train", speakers=["theo"])
    assert len(theo) == 450 and set(theo.indices.tolist()) == set(range(5, 50))
    monkeypatch.delenv("DEEPWISE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no recordings.zip"):
        FSDD(tmp_path / "nowhere")
