"""Builds the running parts from settings: the back office, the understanding, the dialogue engine.

Shared by `frontdesk serve`, `frontdesk chat` and QA replay so that every entry point runs the
same configuration of the same components. Construction does no I/O; `open()` does.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from actions import seed
from actions.backoffice import Backoffice
from actions.governance import GovernancePolicy
from dialogue.domains.retail import FLOWS_DIR, build_pack
from dialogue.engine import DialogueEngine, EngineConfig
from dialogue.kernel.pack import DomainPack
from dialogue.understanding.models import Understander
from frontdesk.settings import Settings


def make_understander(settings: Settings, pack: DomainPack) -> Understander:
    from dialogue.understanding.builtin import BuiltinUnderstanding

    builtin = BuiltinUnderstanding(tuple(settings.languages), packs=[pack.understanding])
    if not settings.llm_base_url:
        return builtin
    from dialogue.understanding.llm import LLMUnderstanding

    return LLMUnderstanding(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed",
        fallback=builtin,
    )


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.backoffice = Backoffice(
            settings.resolved_db_url(),
            faults=settings.faults,
            timeout_s=settings.system_timeout_s,
            policy=GovernancePolicy(refund_approval_threshold=settings.refund_approval_threshold),
        )
        self.pack = build_pack([FLOWS_DIR, settings.flows_dir] if settings.flows_dir else None)
        self.understander = make_understander(settings, self.pack)
        self.engine = DialogueEngine(
            self.backoffice,
            self.understander,
            pack=self.pack,
            config=EngineConfig(
                languages=tuple(settings.languages),
                default_language=settings.languages[0],
                pattern_dirs=(settings.patterns_dir,) if settings.patterns_dir else (),
            ),
        )

    async def open(self) -> Runtime:
        await self.backoffice.open()
        if self.settings.data:
            text = await asyncio.to_thread(Path(self.settings.data).read_text, encoding="utf-8")
            data = json.loads(text)
            if not set(data) - {"products", "users", "orders"}:
                # A plain retail store: give its customers the seeded subscriptions, accounts, slots.
                data |= seed.generate(data["users"])
            await self.backoffice.import_data(data)
        await self.backoffice.ensure_default_store()
        await self.engine.open()
        warm = getattr(self.understander, "warm_up", None) or getattr(
            getattr(self.understander, "fallback", None), "warm_up", None
        )
        if warm is not None:
            warm()
        return self

    async def close(self) -> None:
        await self.engine.shutdown()
        await self.backoffice.close()


async def build_runtime(settings: Settings) -> Runtime:
    return await Runtime(settings).open()
