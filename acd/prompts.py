"""Renders the prompt catalogue to 8 kHz WAV files with espeak-ng and sox.

Only phrases whose text changed are rendered again (a manifest keeps a hash
of each). Rendering runs in subprocesses, never on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import structlog

from ivr.speech import Phrase

log = structlog.get_logger("acd.prompts")

VOICES = {"en": "en-us", "zh": "cmn"}
RENDER_VERSION = "1"  # bump when the audio pipeline changes


class PromptError(Exception):
    """Prompts could not be rendered (tools missing or failing)."""


class PromptLibrary:
    """Where each phrase's audio lives, for acd (``dir``) and for Asterisk (``asterisk_dir``)."""

    def __init__(self, directory: Path, asterisk_dir: str | None = None) -> None:
        self.dir = directory
        self.asterisk_dir = (asterisk_dir or str(directory)).rstrip("/")

    def path(self, language: str, key: str) -> str:
        """The name Asterisk plays (absolute, without extension)."""
        return f"{self.asterisk_dir}/{language}/{key}"

    def files(self, language: str, keys: Iterable[str]) -> str:
        """An '&'-joined list for Playback()."""
        return "&".join(self.path(language, k) for k in keys)

    async def render(self, phrases: list[Phrase], concurrency: int = 4) -> int:
        """Render what is missing or changed; return how many files were made."""
        for tool in ("espeak-ng", "sox"):
            if shutil.which(tool) is None:
                raise PromptError(f"{tool} is not installed (apt-get install espeak-ng sox)")
        manifest_path = self.dir / "manifest.json"
        manifest = await asyncio.to_thread(_read_manifest, manifest_path)
        todo: list[tuple[Phrase, Path, str]] = []
        for phrase in phrases:
            digest = _digest(phrase)
            target = self.dir / phrase.language / f"{phrase.key}.wav"
            if manifest.get(f"{phrase.language}/{phrase.key}") != digest or not target.exists():
                todo.append((phrase, target, digest))
        if not todo:
            return 0

        def make_dirs() -> None:
            for _, t, _ in todo:
                t.parent.mkdir(parents=True, exist_ok=True)

        await asyncio.to_thread(make_dirs)
        limit = asyncio.Semaphore(concurrency)

        async def one(phrase: Phrase, target: Path, digest: str) -> None:
            async with limit:
                await _render_one(phrase, target)
            manifest[f"{phrase.language}/{phrase.key}"] = digest

        await asyncio.gather(*(one(*item) for item in todo))
        await asyncio.to_thread(_write_manifest, manifest_path, manifest)
        log.info("prompts_rendered", count=len(todo), dir=str(self.dir))
        return len(todo)


async def _run(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise PromptError(f"{args[0]} took longer than 30 s") from None
    if proc.returncode != 0:
        raise PromptError(f"{args[0]} failed: {err.decode(errors='replace').strip()}")


async def _render_one(phrase: Phrase, target: Path) -> None:
    raw = target.with_suffix(".raw.wav")
    tmp = target.with_suffix(".tmp.wav")
    voice = VOICES[phrase.language]
    await _run("espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), phrase.text)
    await _run("sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(tmp))
    raw.unlink()
    tmp.replace(target)


def _digest(phrase: Phrase) -> str:
    text = f"{RENDER_VERSION}|{VOICES[phrase.language]}|{phrase.text}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _write_manifest(path: Path, manifest: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, sort_keys=True, indent=0), encoding="utf-8")
    tmp.replace(path)
