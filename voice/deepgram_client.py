"""One HTTP client shared by every call's Deepgram SDK client.

pipecat's `DeepgramSTTService` builds an `AsyncDeepgramClient` per call, and the SDK gives each one a
new httpx client whose TLS context (the CA bundle, read and parsed) costs ~45 ms of CPU. Measured
with 25 calls arriving over 2 s, that was 0.9 s of the phone server's loop, and the calls already on
the line waited it out as gaps in their audio. Live transcription runs over the SDK's WebSocket and
never touches that HTTP client, so the calls of a process share one.
"""

from __future__ import annotations

import functools

import httpx
import pipecat.services.deepgram.stt as pipecat_deepgram_stt
from deepgram import AsyncDeepgramClient

HTTP_TIMEOUT_S = 60.0  # the SDK's own default


@functools.cache
def shared_http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)


class SharedHttpDeepgramClient(AsyncDeepgramClient):
    """`AsyncDeepgramClient` over the process's shared HTTP client unless given one."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("httpx_client", shared_http_client())
        super().__init__(*args, **kwargs)


def use_shared_http_client() -> None:
    """Make pipecat's Deepgram STT build its clients over the shared HTTP client (idempotent)."""
    pipecat_deepgram_stt.AsyncDeepgramClient = SharedHttpDeepgramClient
