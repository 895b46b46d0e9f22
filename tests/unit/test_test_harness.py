"""The test harness itself: what a failing end-to-end run on a busy machine taught us."""

from __future__ import annotations

import itertools
import math
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.e2e import pbx
from tests.e2e.audio import find_prompts


def _write(path: Path, samples: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(samples.astype("<i2").tobytes())
    return path


def test_a_recording_that_began_one_frame_into_the_first_prompt_still_finds_it(tmp_path):
    # MixMonitor attaches in its own thread: the greeting's first 20 ms can be played
    # before the recording begins. The prompts are still found, in order.
    rng = np.random.default_rng(7)
    greeting = rng.normal(0, 3000, 8000)
    digit = rng.normal(0, 3000, 4000)
    _write(tmp_path / "prompts" / "en" / "greeting.wav", greeting)
    _write(tmp_path / "prompts" / "en" / "digit.wav", digit)
    recorded = np.concatenate((greeting[160:], digit, np.zeros(4000)))
    wav = _write(tmp_path / "call.wav", recorded)
    found = find_prompts(wav, tmp_path / "prompts", "en", ["greeting", "digit"])
    assert [key for key, _, _ in found] == ["greeting", "digit"]
    assert all(score > 0.99 for _, _, score in found), found
    assert math.isclose(found[0][1], -0.02, abs_tol=1e-3)
    assert math.isclose(found[1][1], 0.98, abs_tol=1e-3)


def test_a_port_is_handed_out_once_per_run():
    # Asterisk's FastAGI port and an engine's HTTP port once came out the same, and the
    # engine could not start.
    given = [pbx.free_tcp_port() for _ in range(300)] + [pbx.free_udp_port() for _ in range(100)]
    assert len(set(given)) == len(given)


@pytest.mark.parametrize("total", [2, 3])
def test_suites_side_by_side_take_disjoint_slices_of_the_ports(monkeypatch, total):
    slices = []
    for k in range(total):
        monkeypatch.setenv(pbx.SLICE_VARIABLE, f"{k}/{total}")
        slices.append(pbx.port_slice(*pbx.LISTEN_PORTS))
        low, high = slices[-1]
        assert all(low <= pbx.free_tcp_port() < high for _ in range(20))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(slices))


@pytest.mark.parametrize("text", ["2/2", "half", "1/0"])
def test_a_wrong_port_slice_names_the_variable(monkeypatch, text):
    monkeypatch.setenv(pbx.SLICE_VARIABLE, text)
    with pytest.raises(RuntimeError, match="ACD_TEST_PORT_SLICE"):
        pbx.port_slice(10000, 20000)
