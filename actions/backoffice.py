"""The back office as one object: database, gateway, tool runner, import/export, default store.

Channels and the dialogue get a `Backoffice` from the composition root and use `runner.call`
for everything; import/export, seeding and reconcile are operator functions.

The whole back office travels as one JSON document: the retail `db.json` shape (`products`,
`users`, `orders`) plus one top-level key per kind of record of the other systems and of
governance, in the order of the system registry (`actions.systems.registry`). An import replaces
everything in one transaction; keys it leaves out are empty after.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import seed
from actions.circuit import BreakerConfig
from actions.db import Database
from actions.faults import FaultInjector, parse_rules
from actions.gateway import SystemGateway
from actions.governance import GovernancePolicy, ToolEnv, ToolRunner
from actions.models import CallContext, ToolResult
from actions.paths import RETAIL_DB
from actions.systems import retail, scheduler
from actions.systems.records import clear_tables
from actions.systems.registry import SYSTEMS, SystemSpec
from actions.tools import default_registry

RETAIL_KEYS = retail.EXPORT_KEYS


class Backoffice:
    def __init__(
        self,
        db_url: str | None = None,
        *,
        faults: str | FaultInjector | None = None,
        policy: GovernancePolicy | None = None,
        timeout_s: float = 5.0,
        breaker: BreakerConfig | None = None,
    ):
        self.db = Database(db_url)
        injector = faults if isinstance(faults, FaultInjector) else FaultInjector(parse_rules(faults))
        self.systems = SYSTEMS
        self.gateway = SystemGateway(injector, timeout_s=timeout_s, breaker=breaker, systems=self.systems)
        self.policy = policy or GovernancePolicy()
        self.registry = default_registry()
        self.runner = ToolRunner(ToolEnv(self.db, self.gateway, self.policy), self.registry)

    @property
    def faults(self) -> FaultInjector:
        return self.gateway.faults

    async def open(self) -> Backoffice:
        await self.db.create_all()
        return self

    async def close(self) -> None:
        await self.gateway.drain()
        await self.runner.read_audit.close()
        await self.db.dispose()

    async def call(self, tool: str, args: dict[str, Any] | None = None, ctx: CallContext | None = None) -> ToolResult:
        return await self.runner.call(tool, args, ctx)

    async def is_empty(self) -> bool:
        async with self.db.read() as conn:
            return not await retail.list_products(conn)

    async def import_data(self, data: dict[str, Any]) -> dict[str, int]:
        """Replace the whole back office with `data` (retail db.json shape plus other systems' keys)."""
        store = self.systems.store
        missing = [k for k in (store.export_keys if store else ()) if k not in data]
        if missing:
            raise ValueError(f"not a retail store: missing top-level keys {', '.join(missing)}")
        async with self.db.write() as conn:
            return await self._replace(conn, list(self.systems), data)

    async def import_file(self, path: str | Path) -> dict[str, int]:
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
        return await self.import_data(json.loads(text))

    async def export_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with self.db.read() as conn:
            for system in self.systems:
                out |= await system.export_records(conn)
        return out

    async def _replace(self, conn: AsyncConnection, systems: list[SystemSpec], data: dict[str, Any]) -> dict[str, int]:
        """Empty `systems` and load them from `data`; the counts of what was loaded, in registry order."""
        for system in systems:
            await clear_tables(conn, *system.tables)
        # The store goes in last: the other systems' records are few, so a bad one is found before
        # the store's thousands of rows are loaded (the transaction undoes everything either way).
        loaded: dict[str, dict[str, int]] = {}
        for system in sorted(systems, key=lambda s: s.store):
            loaded[system.name] = await system.import_records(conn, data)
        return {key: n for system in systems for key, n in loaded[system.name].items()}

    async def seed(
        self, *, seed_value: int = seed.DEFAULT_SEED, reference: date = seed.REFERENCE_DATE
    ) -> dict[str, int]:
        """Replace the systems beside retail with seed data generated for the store's customers."""
        async with self.db.write() as conn:
            rows = (await conn.execute(select(retail.users.c.user_id, retail.users.c.email))).all()
            data = seed.generate({r.user_id: {"email": r.email} for r in rows}, seed=seed_value, reference=reference)
            return await self._replace(conn, [s for s in self.systems if s.seeded], data)

    async def ensure_callback_slots(self, start: date | None = None) -> int:
        """Open the callback slots of the 14 days from `start` (today, in business time) that are missing."""
        start = start or datetime.now(scheduler.BUSINESS_TZ).date()
        async with self.db.write() as conn:
            return await scheduler.ensure_slots(conn, start)

    async def ensure_default_store(self) -> dict[str, int] | None:
        """On an empty back office, load the shipped retail store and the seeded systems.

        Returns what was imported, or None when there was data already. Either way the callback
        slots of the coming two weeks are opened, so a long-lived store always has times to offer.
        """
        counts = None
        if await self.is_empty():
            text = await asyncio.to_thread(RETAIL_DB.read_text, encoding="utf-8")
            data = json.loads(text)
            counts = await self.import_data(data | seed.generate(data["users"]))
        await self.ensure_callback_slots()
        return counts
