"""Reconcile: compare what the audit log says was done with what the systems of record hold now.

It lists every mismatch an operator has to look at:

- postcondition_broken: a write audited as done and verified whose effect no longer holds, and
  that no later audited write on the same record explains (each write tool declares what must
  hold on its `ToolSpec`, `reconcile=`);
- landed_not_ok: a write that landed (its idempotency record is there) but whose audit entry
  says it did not succeed, or a stage of an undone saga that landed and was never undone;
- invariant: a cross-system rule broken (a ledger refund without its refund entry on the order,
  a cancelled subscription that still has entitlements, a booked slot without its booking, ...),
  the rules each system declares in the system registry;
- workflow: every saga left `needs_reconciliation`, or still `running` (the report's JSON keeps
  the word its readers know: kind `workflow`, subject `workflow:<id>`, `workflow_id`).

It only reads; deciding what to do about a finding is a person's job.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import audit, governance_records, sagas
from actions.audit import AuditEntry
from actions.db import Database
from actions.governance import ToolRegistry, ToolSpec
from actions.idempotency import idempotency_keys
from actions.systems.registry import SYSTEMS, SystemRegistry
from actions.tools import default_registry

FindingKind = Literal["postcondition_broken", "landed_not_ok", "invariant", "workflow"]

# Audit statuses after which something may have been written (and so may explain a later state).
_MAY_HAVE_WRITTEN = {"ok", "unverified", "failed", "needs_reconciliation"}


class Finding(BaseModel):
    kind: FindingKind
    system: str
    subject: str
    detail: str
    tool: str | None = None
    audit_id: int | None = None
    workflow_id: str | None = None  # the saga, or the conversation, the write was part of


class ReconcileReport(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    checked_writes: int = 0
    checked_workflows: int = 0  # saga records

    @property
    def clean(self) -> bool:
        return not self.findings

    def about(self, *, workflow_id: str | None = None, kind: FindingKind | None = None) -> list[Finding]:
        return [
            f
            for f in self.findings
            if (workflow_id is None or f.workflow_id == workflow_id) and (kind is None or f.kind == kind)
        ]


# ------------------------------------------------------------------ post-conditions of verified writes


async def _postconditions(
    conn: AsyncConnection, entries: list[AuditEntry], tools: dict[str, ToolSpec]
) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    later: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        spec = tools.get(entry.tool)
        if spec is not None and spec.reconcile is not None and entry.status in _MAY_HAVE_WRITTEN:
            for subject in spec.reconcile.subjects(entry):
                later[subject].append(entry)
    checked = 0
    for entry in entries:
        spec = tools.get(entry.tool)
        check = spec.reconcile if spec is not None else None
        if check is None or entry.status != "ok" or not entry.verified:
            continue
        checked += 1
        problems = await check.holds(conn, entry)
        if not problems:
            continue
        subjects = check.subjects(entry)
        explained = any(
            other.id > entry.id and other.idempotency_key != entry.idempotency_key
            for subject in subjects
            for other in later[subject]
        )
        if explained:
            continue
        findings.append(
            Finding(
                kind="postcondition_broken",
                system=spec.system,
                subject=subjects[0],
                detail="; ".join(problems),
                tool=entry.tool,
                audit_id=entry.id,
                workflow_id=entry.workflow_id,
            )
        )
    return findings, checked


# ------------------------------------------------------------------ writes that landed unreported


def _landed_not_ok(
    entries: list[AuditEntry], saga_records: list[sagas.SagaRecord], keys: dict[str, str], tools: dict[str, ToolSpec]
) -> list[Finding]:
    findings: list[Finding] = []
    saga_kinds = {w.kind for w in saga_records}
    saga_ids = {w.workflow_id for w in saga_records}
    by_key: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        # Sagas are judged by their saga record below. Any other write counts here, including the
        # dialogue's, whose audit entries carry the conversation's session id in the same field.
        if entry.idempotency_key and entry.workflow_id not in saga_ids and entry.tool not in saga_kinds:
            by_key[entry.idempotency_key].append(entry)
    for key, group in by_key.items():
        if any(e.status == "ok" for e in group) or keys.get(key) != group[0].tool:
            continue
        last = group[-1]
        findings.append(
            Finding(
                kind="landed_not_ok",
                system=tools[last.tool].system if last.tool in tools else "unknown",
                subject=f"key:{key}",
                detail=f"{last.tool} was applied (its idempotency record is there) but was audited as {last.status}",
                tool=last.tool,
                audit_id=last.id,
            )
        )
    for saga in saga_records:
        if saga.status != "compensated":
            continue
        for stage in saga.steps:
            stage_key = f"{saga.idempotency_key}:{stage.name}"
            if stage_key in keys and f"{stage_key}:undo" not in keys:
                findings.append(
                    Finding(
                        kind="landed_not_ok",
                        system=stage.system,
                        subject=f"workflow:{saga.workflow_id}",
                        detail=f"step {stage.name} of {saga.kind} landed but the workflow was undone without it",
                        tool=saga.kind,
                        workflow_id=saga.workflow_id,
                    )
                )
    return findings


# ------------------------------------------------------------------ cross-system invariants


async def _invariants(conn: AsyncConnection, systems: SystemRegistry) -> list[Finding]:
    return [
        Finding(kind="invariant", **violation.model_dump())
        for system in systems
        for rule in system.invariants
        for violation in await rule(conn)
    ]


# ------------------------------------------------------------------ flagged sagas


def _flagged(saga_records: list[sagas.SagaRecord]) -> list[Finding]:
    findings = []
    for saga in saga_records:
        if saga.status not in ("needs_reconciliation", "running"):
            continue
        failed = [s.name for s in saga.steps if s.status in ("failed", "compensation_failed")]
        detail = saga.reason or ("still running" if saga.status == "running" else saga.status)
        findings.append(
            Finding(
                kind="workflow",
                # A saga stopped between stages is for the runner's own records to explain.
                system=next((s.system for s in saga.steps if s.name in failed), governance_records.SYSTEM),
                subject=f"workflow:{saga.workflow_id}",
                detail=f"{saga.kind} is {saga.status}: {detail}" + (f" (steps: {', '.join(failed)})" if failed else ""),
                tool=saga.kind,
                workflow_id=saga.workflow_id,
            )
        )
    return findings


async def reconcile(
    db: Database, *, tools: ToolRegistry | None = None, systems: SystemRegistry | None = None
) -> ReconcileReport:
    """Every finding about `db`, checked with the tools' post-conditions and the systems' rules."""
    specs = {spec.name: spec for spec in (default_registry() if tools is None else tools)}
    systems = SYSTEMS if systems is None else systems
    entries = await audit.entries(db, writes_only=True)
    saga_records = await sagas.all_records(db)
    async with db.read() as conn:
        keys = {
            r.key: r.tool for r in (await conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.tool))).all()
        }
        broken, checked = await _postconditions(conn, entries, specs)
        invariants = await _invariants(conn, systems)
    findings = [*broken, *_landed_not_ok(entries, saga_records, keys, specs), *invariants, *_flagged(saga_records)]
    return ReconcileReport(findings=findings, checked_writes=checked, checked_workflows=len(saga_records))
