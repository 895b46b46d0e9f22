"""What a caller heard: read a WAV recording and measure it."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path


def loud_seconds(path: Path, threshold: float = 100.0) -> float:
    """Seconds of the recording whose RMS level is above ``threshold`` (16-bit scale)."""
    return loud_seconds_between(path, 0, math.inf, threshold)


def loud_seconds_between(path: Path, start: float, end: float, threshold: float = 100.0) -> float:
    """Loud seconds of a recording between two offsets (seconds from its start)."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = array("h", wav.readframes(wav.getnframes()))
    window = rate // 10
    loud = 0
    last = len(samples) if end == math.inf else min(len(samples), int(end * rate))
    for i in range(int(start * rate), last - window + 1, window):
        chunk = samples[i : i + window]
        if math.sqrt(sum(s * s for s in chunk) / len(chunk)) > threshold:
            loud += 1
    return loud / 10


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def tone(seconds: float, frequency: float = 1000.0, rate: int = 8000) -> bytes:
    """A pure tone as 8-bit unsigned PCM (what pyVoIP phones send)."""
    return bytes(
        int(128 + 90 * math.sin(2 * math.pi * frequency * i / rate))
        for i in range(int(seconds * rate))
    )


def tone_ratio(samples: list[float], frequency: float = 1000.0, rate: int = 8000) -> float:
    """Share of the signal's energy at ``frequency`` (Goertzel): near 1 for a pure tone."""
    if not samples:
        return 0.0
    mean = sum(samples) / len(samples)
    centred = [s - mean for s in samples]
    energy = sum(s * s for s in centred)
    if energy < len(samples) * 25:  # silence
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for s in centred:
        s1, s2 = s + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return min(1.0, 2 * power / (len(samples) * energy))


def tone_seconds_u8(chunks: list[tuple[float, bytes]], start: float, end: float) -> float:
    """Seconds with the tone in a phone's received audio between two monotonic times."""
    found = 0.0
    audio = b"".join(c for t, c in chunks if start <= t < end)
    for i in range(0, len(audio) - 800, 800):
        if tone_ratio([float(b) for b in audio[i : i + 800]]) > 0.5:
            found += 0.1
    return found


def tone_seconds_wav(path: Path, start: float, end: float) -> float:
    """Seconds with the tone in a WAV recording between two offsets (seconds)."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = array("h", wav.readframes(wav.getnframes()))
    window = rate // 10
    found = 0.0
    for i in range(int(start * rate), min(len(samples), int(end * rate)) - window, window):
        if tone_ratio([float(s) for s in samples[i : i + window]], rate=rate) > 0.5:
            found += 0.1
    return found
