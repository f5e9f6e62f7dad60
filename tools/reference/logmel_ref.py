"""Writes tests/fixtures/logmel/logmel.safetensors: Whisper's log-mel features for a few inputs.

Run from the repo root with Debian's python3 (torch 1.13, numpy):  /usr/bin/python3 tools/reference/logmel_ref.py
Needs public/demo/demo.mp4 and ffmpeg (the speech input is decoded from the demo clip).

The steps are Whisper's log_mel_spectrogram, in float32 with torch.stft as Whisper runs them;
the filterbank is librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) (Slaney mel scale, Slaney
area normalization), written out here from its definition because librosa is not installed.
"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from st import save  # noqa: E402

SAMPLE_RATE, N_FFT, HOP_LENGTH = 16000, 400, 160


def hz_to_mel(f):
    """Slaney mel scale: linear below 1 kHz (3 bins per 200 Hz), logarithmic above."""
    f = np.asarray(f, np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    lin = f / f_sp
    log = min_log_hz / f_sp + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log, lin)


def mel_to_hz(m):
    m = np.asarray(m, np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=80):
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (fmin 0, fmax sr/2, htk False,
    norm 'slaney', float32): triangles on mel-spaced edges, each scaled to unit area in Hz.
    The float32 rounding happens where librosa's does: the triangle is stored in float32 first,
    then multiplied in place by the float64 normalization."""
    fft_freqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, len(fft_freqs)), np.float32)
    for i in range(n_mels):
        rising = -ramps[i] / widths[i]
        falling = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    return weights


def log_mel_spectrogram(audio, filters, dtype=torch.float32):
    """Whisper's features: [n_mels, floor(len(audio) / 160)]."""
    audio = torch.as_tensor(audio, dtype=dtype)
    window = torch.hann_window(N_FFT, dtype=dtype)  # periodic
    stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=window, center=True, pad_mode="reflect", return_complex=True)
    power = stft[..., :-1].abs() ** 2  # Whisper drops the last frame
    mel = torch.as_tensor(filters, dtype=dtype) @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def demo_speech(path, start_s=1.0, seconds=2.5):
    """A few seconds of the demo clip's audio, decoded to 16 kHz mono float32 by ffmpeg."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(start_s), "-t", str(seconds), "-i", path,
         "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"],
        check=True, capture_output=True).stdout
    return np.frombuffer(raw, "<f4").copy()


def chirp(seconds=1.5):
    """Log sweep 50 Hz -> 7.9 kHz with a rising level after 0.25 s of exact silence: covers every
    mel band and the log floor."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0, f1 = 50.0, 7900.0
    k = np.log(f1 / f0) / seconds
    x = 0.5 * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k) * np.linspace(0.05, 1.0, len(t))
    x[: SAMPLE_RATE // 4] = 0.0
    return x.astype(np.float32)


def short_noise(n=1234, seed=7):
    """Not a multiple of the hop, barely longer than the reflect padding."""
    return (np.random.default_rng(seed).standard_normal(n) * 0.1).astype(np.float32)


def main():
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    out_dir = os.path.join(root, "tests", "fixtures", "logmel")
    os.makedirs(out_dir, exist_ok=True)
    filters = mel_filters()
    # 128 bands: Whisper large-v3
    tensors = {"mel_filters_80": torch.from_numpy(filters), "mel_filters_128": torch.from_numpy(mel_filters(n_mels=128))}
    inputs = {
        "speech": demo_speech(os.path.join(root, "public", "demo", "demo.mp4")),
        "chirp": chirp(),
        "short": short_noise(),
    }
    for name, audio in inputs.items():
        tensors[f"{name}.audio"] = torch.from_numpy(audio)
        tensors[f"{name}.logmel"] = log_mel_spectrogram(audio, filters).contiguous()
        # the same in float64 (stored as float32): the TS code computes in float64, so this bounds
        # its own error tightly, apart from torch's float32 rounding in the line above
        f64 = log_mel_spectrogram(audio.astype(np.float64), filters.astype(np.float64), torch.float64)
        tensors[f"{name}.logmel_f64"] = f64.float().contiguous()
    meta = {"source": "tools/reference/logmel_ref.py", "torch": torch.__version__,
            "sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP_LENGTH}
    save(os.path.join(out_dir, "logmel.safetensors"), tensors, meta)
    for name, t in tensors.items():
        print(f"{name}: {list(t.shape)}")


if __name__ == "__main__":
    main()
