"""Builds the running parts from settings: the back office, the understanding, the dialogue engine.

Shared by `frontdesk serve`, `frontdesk chat` and QA replay so that every entry point runs the
same configuration of the same components.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from actions.backoffice import Backoffice
from actions.governance import GovernancePolicy
from dialogue.engine import DialogueEngine, EngineConfig
from dialogue.understanding.models import Understander
from frontdesk.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    backoffice: Backoffice
    engine: DialogueEngine

    async def close(self) -> None:
        await self.backoffice.close()


def make_understander(settings: Settings) -> Understander:
    from dialogue.understanding.builtin import BuiltinUnderstanding

    builtin = BuiltinUnderstanding()
    if not settings.llm_base_url:
        return builtin
    from dialogue.understanding.llm import LLMUnderstanding

    return LLMUnderstanding(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed",
        fallback=builtin,
    )


async def open_backoffice(settings: Settings) -> Backoffice:
    backoffice = Backoffice(
        settings.resolved_db_url(),
        faults=settings.faults,
        timeout_s=settings.system_timeout_s,
        policy=GovernancePolicy(refund_approval_threshold=settings.refund_approval_threshold),
    )
    await backoffice.open()
    if settings.data:
        await backoffice.import_file(Path(settings.data))
    else:
        await backoffice.ensure_default_store()
    return backoffice


async def build_runtime(settings: Settings) -> Runtime:
    backoffice = await open_backoffice(settings)
    engine = DialogueEngine(
        backoffice,
        make_understander(settings),
        config=EngineConfig(languages=tuple(settings.languages), default_language=settings.languages[0]),
    )
    await engine.open()
    return Runtime(settings, backoffice, engine)
