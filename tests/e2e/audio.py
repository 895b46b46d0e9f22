"""What a caller or an agent heard: read WAV recordings and RTP audio, and measure them."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import numpy as np


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(sample rate, samples as float) of a 16-bit mono WAV file."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        data = wav.readframes(wav.getnframes())
    return rate, np.frombuffer(data, dtype="<i2").astype(np.float64)


def wav_complete(path: Path) -> bool:
    """Has the writer finished the file (its header gives the length it has)?"""
    try:
        with path.open("rb") as f:
            header = f.read(44)
            size = path.stat().st_size
    except OSError:
        return False
    if len(header) < 44 or header[:4] != b"RIFF":
        return False
    riff_size = struct.unpack("<I", header[4:8])[0]
    return riff_size + 8 == size and size > 44


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def loud_seconds_between(path: Path, start: float, end: float, threshold: float = 100.0) -> float:
    """Seconds of a recording between two offsets whose RMS level (per 100 ms) is above
    ``threshold`` (16-bit scale)."""
    rate, samples = read_wav(path)
    window = rate // 10
    first = max(0, int(start * rate))
    last = len(samples) if end == math.inf else min(len(samples), int(end * rate))
    loud = 0
    for i in range(first, last - window + 1, window):
        chunk = samples[i : i + window]
        if math.sqrt(float(np.mean(chunk * chunk))) > threshold:
            loud += 1
    return loud / 10


def prompt_audio(directory: Path, language: str, keys: list[str] | tuple[str, ...]) -> np.ndarray:
    """The rendered prompts played one after the other, as Asterisk plays them."""
    parts = [read_wav(directory / language / f"{key}.wav")[1] for key in keys]
    return np.concatenate(parts)


def find_audio(
    recording: np.ndarray, expected: np.ndarray, rate: int = 8000
) -> tuple[float, float]:
    """Where ``expected`` best matches inside ``recording``: (offset in s, score).

    The score is the normalised cross-correlation of the samples (1.0: the very
    same audio, as when a prompt file is played through Local channels; near 0
    for other speech). Computed with FFTs, so a long call is measured at once.
    """
    n, m = len(recording), len(expected)
    if m == 0 or n < m:
        return 0.0, 0.0
    size = 1 << (n + m).bit_length()
    spectrum = np.fft.rfft(recording, size) * np.conj(np.fft.rfft(expected, size))
    dots = np.fft.irfft(spectrum, size)[: n - m + 1]
    energy = np.concatenate(([0.0], np.cumsum(recording * recording)))
    window_norm = np.sqrt(np.maximum(energy[m:] - energy[:-m], 1e-9))
    scores = dots / (window_norm * math.sqrt(float(np.dot(expected, expected))) + 1e-9)
    best = int(np.argmax(scores))
    # The same audio may be there twice (the "0"s of 1001): take the first good match.
    good = np.flatnonzero(scores >= max(0.9, float(scores[best]) - 0.02))
    first = int(good[0]) if len(good) else best
    return first / rate, float(scores[first])


def tone(seconds: float, frequency: float = 1000.0, rate: int = 8000) -> bytes:
    """A pure tone as 8-bit unsigned PCM (what pyVoIP phones send)."""
    return bytes(
        int(128 + 90 * math.sin(2 * math.pi * frequency * i / rate))
        for i in range(int(seconds * rate))
    )


def tone_ratio(samples: np.ndarray, frequency: float = 1000.0, rate: int = 8000) -> float:
    """Share of the signal's energy at ``frequency`` (Goertzel): near 1 for a pure tone."""
    if len(samples) == 0:
        return 0.0
    centred = samples - float(np.mean(samples))
    energy = float(np.dot(centred, centred))
    if energy < len(samples) * 25:  # silence
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for s in centred:
        s1, s2 = float(s) + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return min(1.0, 2 * power / (len(samples) * energy))


def tone_seconds_u8(chunks: list[tuple[float, bytes]], start: float, end: float) -> float:
    """Seconds with the tone in a phone's received audio between two monotonic times."""
    audio = b"".join(c for t, c in chunks if start <= t < end)
    samples = np.frombuffer(audio, dtype=np.uint8).astype(np.float64)
    return sum(
        0.1 for i in range(0, len(samples) - 800, 800) if tone_ratio(samples[i : i + 800]) > 0.5
    )


def tone_seconds_wav(
    path: Path, start: float, end: float, frequency: float = 1000.0, share: float = 0.5
) -> float:
    """Seconds with the tone in a WAV recording between two offsets (seconds): windows
    where at least ``share`` of the energy is at ``frequency``."""
    rate, samples = read_wav(path)
    window = rate // 10
    return sum(
        0.1
        for i in range(int(start * rate), min(len(samples), int(end * rate)) - window, window)
        if tone_ratio(samples[i : i + window], frequency, rate) > share
    )


def write_tone_wav(path: Path, seconds: float, frequency: float, rate: int = 8000) -> Path:
    """A 16-bit mono WAV file of a pure tone (a fake microphone's input, say)."""
    step = 2 * math.pi * frequency / rate
    samples = [int(12000 * math.sin(step * i)) for i in range(int(seconds * rate))]
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def find_prompts(
    recording: Path,
    prompts: Path,
    language: str,
    keys: list[str] | tuple[str, ...],
    start: float = 0.0,
    end: float = math.inf,
    prefix: float | None = None,
    slack: float = 3.0,
    lead: float = 0.1,
) -> list[tuple[str, float, float]]:
    """Find each prompt of ``keys`` in the recording, in order, from ``start`` on.

    Returns (key, offset in s, score) per prompt; each is searched right after
    the previous one (within ``slack`` s of where it could start). ``prefix``:
    match only that many seconds of each prompt (one the caller interrupted
    with a key was not heard to its end). A prompt searched from the file's very
    start may have begun up to ``lead`` s before it (a negative offset): Asterisk's
    MixMonitor attaches to the channel in its own thread, and a Playback started
    right after it can get its first 20 ms frame out before the recording begins.
    """
    rate, samples = read_wav(recording)
    found = []
    position = max(0.0, start)
    last = len(samples) if end == math.inf else min(len(samples), int(end * rate))
    for key in keys:
        expected = prompt_audio(prompts, language, [key])
        if prefix is not None:
            expected = expected[: int(prefix * rate)]
        first = int(position * rate)
        until = min(last, first + len(expected) + int(slack * rate))
        missed = int(lead * rate) if first == 0 else 0  # before the recording began
        segment = np.concatenate((np.zeros(missed), samples[first:until]))
        offset, score = find_audio(segment, expected, rate)
        offset -= missed / rate
        found.append((key, position + offset, score))
        position = position + offset + len(expected) / rate - 0.05
    return found
