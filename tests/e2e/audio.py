"""What a caller heard: read a WAV recording and measure it."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path


def loud_seconds(path: Path, threshold: float = 100.0, window_s: float = 0.1) -> float:
    """Seconds of the recording whose RMS level is above ``threshold`` (16-bit scale)."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2, "expected 16-bit PCM"
        rate = wav.getframerate()
        samples = array("h", wav.readframes(wav.getnframes()))
    size = max(1, int(rate * window_s))
    loud = 0
    for start in range(0, len(samples), size):
        chunk = samples[start : start + size]
        if chunk and math.sqrt(sum(s * s for s in chunk) / len(chunk)) > threshold:
            loud += 1
    return loud * window_s


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()
