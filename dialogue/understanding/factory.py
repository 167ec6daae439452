"""Picks the understanding for the composition root: the LLM one when an endpoint is configured
(FRONTDESK_LLM_BASE_URL / _MODEL / _API_KEY), otherwise, and as its fallback, the built-in one."""

from __future__ import annotations

from collections.abc import Sequence

from dialogue.understanding.builtin import BuiltinUnderstanding
from dialogue.understanding.extensions import UnderstandingPack
from dialogue.understanding.models import SUPPORTED_LANGUAGES, Understander


def create_understander(
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    *,
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES,
    packs: Sequence[UnderstandingPack] = (),
    timeout_s: float = 6.0,
    warm: bool = True,
) -> Understander:
    """The understanding of the core plus `packs` (the domains served)."""
    builtin = BuiltinUnderstanding(languages, packs=packs, warm=warm)
    if base_url and model:
        from dialogue.understanding.llm import LLMUnderstanding  # the SDK is only needed when configured

        return LLMUnderstanding(base_url, model, api_key, fallback=builtin, packs=packs, timeout_s=timeout_s)
    return builtin
