"""The back office as one object: database, gateway, tool runner, import/export.

Channels and the dialogue get a `Backoffice` from the composition root and use `runner.call`
for everything; import/export and reconcile are operator functions.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from actions.circuit import BreakerConfig
from actions.db import Database
from actions.faults import FaultInjector, parse_rules
from actions.gateway import SystemGateway
from actions.governance import GovernancePolicy, ToolEnv, ToolRunner
from actions.models import CallContext, ToolResult
from actions.systems import retail
from actions.tools import default_registry

RETAIL_KEYS = ("products", "users", "orders")


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
        self.gateway = SystemGateway(injector, timeout_s=timeout_s, breaker=breaker)
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
        await self.db.dispose()

    async def call(self, tool: str, args: dict[str, Any] | None = None, ctx: CallContext | None = None) -> ToolResult:
        return await self.runner.call(tool, args, ctx)

    async def is_empty(self) -> bool:
        async with self.db.read() as conn:
            return not await retail.list_products(conn)

    async def import_data(self, data: dict[str, Any]) -> dict[str, int]:
        """Replace the whole back office with `data` (retail db.json shape plus other systems' keys)."""
        missing = [k for k in RETAIL_KEYS if k not in data]
        if missing:
            raise ValueError(f"not a retail store: missing top-level keys {', '.join(missing)}")
        async with self.db.write() as conn:
            counts = await retail.import_data(conn, data)
        return counts

    async def import_file(self, path: str | Path) -> dict[str, int]:
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
        return await self.import_data(json.loads(text))

    async def export_data(self) -> dict[str, Any]:
        async with self.db.read() as conn:
            return await retail.export_data(conn)
