"""Governed tools: the only door through which anything reads or changes a system of record.

A `ToolSpec` declares a tool's typed input and output, the system it calls, its risk class, the
identity level it needs, who owns its target, how it runs, how its post-condition is read back
and what reconcile checks of it later. Registration refuses a spec that is unsafe or names a
system the system registry does not hold. The `ToolRunner` enforces the spec the same way for
every tool:

    validate -> risk (forbidden / confirm / approve) -> identity -> ownership
      -> approval spent by this request (one approval, one request)
      -> idempotency (same key: first result, no write) -> run through the gateway with retries
         (only because the key makes the write idempotent) -> verification read -> audit entry

A write across several systems is a saga: ordered stages, each its own idempotent write with its
own verification; a failing stage is retried, else the finished stages are compensated, else the
saga is marked `needs_reconciliation`. No result reports success for an unverified stage.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import approvals, audit, governance_records, idempotency, sagas
from actions.db import Database
from actions.errors import (
    AccessDenied,
    BackofficeError,
    Conflict,
    InvalidArguments,
    NotFound,
    PreconditionFailed,
    SystemFailure,
    SystemUnavailable,
)
from actions.gateway import SystemGateway
from actions.models import (
    CallContext,
    IdentityLevel,
    RiskClass,
    StageRecord,
    ToolErrorInfo,
    ToolResult,
    Verification,
    utcnow,
)
from actions.postconditions import PostCondition
from actions.systems.registry import SYSTEMS, SystemRegistry


class GovernancePolicy(BaseModel):
    """Numbers the business sets; tests pin them down."""

    refund_approval_threshold: float = 100.0
    max_attempts: int = 3
    backoff_s: float = 0.05


class VerificationFailed(BackofficeError):
    code = "postcondition_failed"


@dataclass
class ToolEnv:
    db: Database
    gateway: SystemGateway
    policy: GovernancePolicy


RunFn = Callable[[ToolEnv, AsyncConnection, Any, CallContext], Awaitable[BaseModel]]
VerifyFn = Callable[[ToolEnv, AsyncConnection, Any, Any], Awaitable[tuple[list[str], dict[str, Any]]]]
OwnerFn = Callable[[AsyncConnection, Any], Awaitable[str | None]]
RiskFn = Callable[[Any, GovernancePolicy], RiskClass]


@dataclass
class SagaState:
    """What a saga stage sees: the tool's input, the caller, and earlier stages' outputs."""

    args: Any
    ctx: CallContext
    saga_id: str
    key: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


StageFn = Callable[[ToolEnv, AsyncConnection, SagaState], Awaitable[dict[str, Any]]]
StageVerifyFn = Callable[[ToolEnv, AsyncConnection, SagaState, dict[str, Any]], Awaitable[list[str]]]
UndoFn = Callable[[ToolEnv, AsyncConnection, SagaState, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class SagaStage:
    name: str
    system: str
    action: StageFn
    verify: StageVerifyFn
    compensate: UndoFn | None = None
    # Once a pivot stage is done (money moved, a message sent) the saga only moves forward.
    pivot: bool = False
    # Skipped when this returns False (e.g. no notification for a customer without an email).
    when: Callable[[SagaState], bool] | None = None


@dataclass
class ToolSpec:
    name: str
    description: str
    system: str
    input: type[BaseModel]
    output: type[BaseModel]
    write: bool
    identity: IdentityLevel
    risk: RiskClass | RiskFn
    run: RunFn | None = None
    verify: VerifyFn | None = None
    owner: OwnerFn | None = None
    stages: list[SagaStage] | None = None
    finish: Callable[[SagaState], BaseModel] | None = None
    confirmation_prefix: str = "FD"
    user_of: Callable[[Any, CallContext], str | None] | None = None
    # What reconcile expects still to hold after the write was done and verified.
    reconcile: PostCondition | None = None

    @property
    def is_saga(self) -> bool:
        return self.stages is not None

    @property
    def systems(self) -> list[str]:
        if self.stages:
            return list(dict.fromkeys(s.system for s in self.stages))
        return [self.system]

    def risk_for(self, args: BaseModel, policy: GovernancePolicy) -> RiskClass:
        return self.risk(args, policy) if callable(self.risk) else self.risk

    def schema(self) -> dict[str, Any]:
        """The tool as an OpenAI-style function declaration (for LLM understanding and docs)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.input.model_json_schema(),
        }


class ToolRegistry:
    """The tools the runner knows, each checked against the systems it calls when it is added."""

    def __init__(self, systems: SystemRegistry | None = None) -> None:
        self.systems = SYSTEMS if systems is None else systems
        self._tools: dict[str, ToolSpec] = {}

    def add(self, *specs: ToolSpec) -> None:
        for spec in specs:
            self._check(spec)
            self._tools[spec.name] = spec

    def _check(self, spec: ToolSpec) -> None:
        """Refuse a spec that could run unsafely or that reconcile could not check."""
        if spec.name in self._tools:
            raise ValueError(f"tool {spec.name!r} registered twice")
        forbidden = spec.risk == RiskClass.forbidden
        if spec.write and not spec.is_saga and spec.verify is None and not forbidden:
            raise ValueError(f"write tool {spec.name!r} has no verification read")
        if spec.write and spec.risk == RiskClass.read:
            raise ValueError(
                f"write tool {spec.name!r} is declared a read: a write that needs nobody's yes is 'routine'"
            )
        if spec.is_saga and not spec.stages:
            raise ValueError(f"saga {spec.name!r} has no stages")
        named = [(f"tool {spec.name!r}", spec.system)]
        named += [(f"stage {s.name!r} of tool {spec.name!r}", s.system) for s in spec.stages or []]
        for what, system in named:
            if system not in self.systems:
                raise ValueError(
                    f"{what} names system {system!r}, which is not registered "
                    f"(registered: {', '.join(self.systems.names)})"
                )
        if spec.reconcile is not None and (not spec.write or forbidden):
            raise ValueError(f"tool {spec.name!r} declares a reconcile check but never writes")

    def get(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            raise NotFound(f"no tool named {name!r}", code="unknown_tool") from None

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __iter__(self):
        return iter(self._tools.values())


def _error(exc: BackofficeError) -> ToolErrorInfo:
    return ToolErrorInfo(code=exc.code, message=exc.message, details=getattr(exc, "details", {}) or {})


def _not_applied(exc: BackofficeError) -> ToolErrorInfo:
    """An error raised before any write was attempted: the caller may say nothing changed."""
    error = _error(exc)
    error.details["applied"] = False
    return error


def _status_for(exc: BackofficeError) -> str:
    if isinstance(exc, SystemUnavailable):
        return "unavailable"
    if isinstance(exc, SystemFailure):
        return "failed"
    if isinstance(exc, Conflict):
        return "conflict"
    return "rejected"


def _generated_key(name: str) -> str:
    return f"auto:{name}:{uuid.uuid4().hex}"


class ToolRunner:
    """Runs governed tools. One instance per process, shared by every channel."""

    def __init__(self, env: ToolEnv, registry: ToolRegistry):
        self.env = env
        self.registry = registry
        self.read_audit = audit.BatchedAudit(env.db)

    @property
    def db(self) -> Database:
        return self.env.db

    @property
    def gateway(self) -> SystemGateway:
        return self.env.gateway

    # ------------------------------------------------------------------ entry point

    async def call(
        self, name: str, args: dict[str, Any] | BaseModel | None, ctx: CallContext | None = None
    ) -> ToolResult:
        ctx = ctx or CallContext()
        started = time.perf_counter()
        timings: dict[str, float] = {}
        raw_args = args.model_dump(mode="json") if isinstance(args, BaseModel) else dict(args or {})
        try:
            spec = self.registry.get(name)
        except NotFound as exc:
            return ToolResult(tool=name, status="rejected", risk=RiskClass.forbidden, write=False, error=_error(exc))
        result = await self._governed(spec, raw_args, ctx, timings)
        result.duration_ms = round((time.perf_counter() - started) * 1000, 2)
        timings["total_ms"] = result.duration_ms
        result.audit_id = await self._audit(spec, raw_args, ctx, result, timings)
        return result

    async def _governed(self, spec: ToolSpec, raw_args: dict, ctx: CallContext, timings: dict) -> ToolResult:
        base = {"tool": spec.name, "write": spec.write, "systems": spec.systems}
        try:
            args = spec.input.model_validate(raw_args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors())
            return ToolResult(
                **base,
                status="rejected",
                # A risk that depends on the arguments cannot be told from invalid ones; refused either way.
                risk=spec.risk if isinstance(spec.risk, RiskClass) else RiskClass.read,
                error=ToolErrorInfo(code="invalid_arguments", message=f"invalid arguments for {spec.name}: {problems}"),
            )
        risk = spec.risk_for(args, self.env.policy)
        base["risk"] = risk
        if risk is RiskClass.forbidden:
            return ToolResult(
                **base,
                status="forbidden",
                error=ToolErrorInfo(code="forbidden", message=f"{spec.name} is not something Frontdesk may do"),
            )
        actor = ctx.actor
        if actor.kind == "customer" and not actor.identity_level.at_least(spec.identity):
            return ToolResult(
                **base,
                status="rejected",
                error=ToolErrorInfo(
                    code="identity_required",
                    message=f"{spec.name} needs identity {spec.identity.value}, have {actor.identity_level.value}",
                    details={"required": spec.identity.value},
                ),
            )
        if risk is RiskClass.confirm and actor.kind == "customer" and not ctx.confirmed:
            return ToolResult(
                **base,
                status="needs_confirmation",
                error=ToolErrorInfo(
                    code="confirmation_required", message="read the details back and get an explicit yes"
                ),
            )
        if risk is RiskClass.approve:
            problem = await self._approval_problem(spec, args, ctx)
            if problem is not None:
                return ToolResult(**base, status="needs_approval", error=problem)
        if spec.owner is not None and actor.kind == "customer" and spec.write:
            try:
                t0 = time.perf_counter()
                owner = await self._read(spec.system, f"{spec.name}.owner", lambda conn: spec.owner(conn, args))
                timings["ownership_ms"] = round((time.perf_counter() - t0) * 1000, 2)
            except BackofficeError as exc:
                return ToolResult(**base, status=_status_for(exc), error=_not_applied(exc))
            if owner is None:
                return ToolResult(
                    **base,
                    status="rejected",
                    error=ToolErrorInfo(code="not_found", message="no such record"),
                )
            if owner != actor.user_id:
                return ToolResult(
                    **base,
                    status="rejected",
                    error=ToolErrorInfo(
                        code="not_owner",
                        message="that record belongs to another customer; it cannot be shared or changed",
                    ),
                )
        key = ctx.idempotency_key or _generated_key(spec.name)
        if risk is RiskClass.approve:
            problem = await self._claim_approval(ctx.approval_id, key)
            if problem is not None:
                return ToolResult(**base, status="needs_approval", error=problem)
        if not spec.write:
            return await self._run_read(spec, args, ctx, base, timings)
        if spec.is_saga:
            return await self._run_saga(spec, args, ctx, key, base, timings)
        return await self._run_write(spec, args, ctx, key, base, timings)

    async def _approval_problem(self, spec: ToolSpec, args: BaseModel, ctx: CallContext) -> ToolErrorInfo | None:
        if not ctx.approval_id:
            return ToolErrorInfo(code="approval_required", message="a person must approve this before it is done")
        try:
            approval = await approvals.get(self.db, ctx.approval_id)
        except NotFound:
            return ToolErrorInfo(code="approval_not_found", message=f"no approval {ctx.approval_id}")
        want = idempotency.request_hash(spec.name, args.model_dump(mode="json"))
        if approval.tool != spec.name or approval.args_hash != want:
            return ToolErrorInfo(code="approval_mismatch", message="the approval was given for a different request")
        if approval.status != "approved":
            return ToolErrorInfo(
                code=f"approval_{approval.status}", message=f"approval {approval.approval_id} is {approval.status}"
            )
        return None

    async def _claim_approval(self, approval_id: str, key: str) -> ToolErrorInfo | None:
        """An approval is spent by the first request (idempotency key) that uses it; a repeat of
        that request still passes, any other request needs an approval of its own."""

        async def once():
            async with self.db.write() as conn:
                return await idempotency.claim(conn, f"approval:{approval_id}", key)

        try:
            holder = await self._with_retries(governance_records.SYSTEM, "claim_approval", once)
        except BackofficeError as exc:
            return _error(exc)
        if holder != key:
            return ToolErrorInfo(
                code="approval_used", message=f"approval {approval_id} was already used for another request"
            )
        return None

    # ------------------------------------------------------------------ plumbing

    async def _read(self, system: str, operation: str, fn: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
        """A read through the gateway, retried (reads are always idempotent)."""

        async def once():
            async with self.db.read() as conn:
                return await fn(conn)

        return await self._with_retries(system, operation, once)

    async def _with_retries(
        self, system: str, operation: str, fn: Callable[[], Awaitable[Any]], tries: list[int] | None = None
    ) -> Any:
        """Call through the gateway, retrying system failures; `tries` (one counter) counts the calls made."""
        policy = self.env.policy
        for attempt in range(1, policy.max_attempts + 1):
            if tries is not None:
                tries[0] = attempt
            try:
                return await self.gateway.call(system, operation, fn)
            except SystemUnavailable:
                raise
            except SystemFailure:
                if attempt == policy.max_attempts:
                    raise
                await asyncio.sleep(policy.backoff_s * (2 ** (attempt - 1)))
        raise AssertionError("unreachable")

    async def _apply_once(
        self,
        system: str,
        operation: str,
        key: str,
        tool: str,
        req_hash: str,
        body: Callable[[AsyncConnection], Awaitable[dict]],
        tries: list[int] | None = None,
    ) -> tuple[dict, bool, int]:
        """Apply a write exactly once under `key`; retry only because the key makes that safe.

        Returns (stored result, replayed, attempts). A retry after a lost reply finds the
        idempotency record the first attempt committed and returns it instead of writing again.
        `tries` still holds the number of attempts when this raises.
        """
        tries = tries if tries is not None else [0]
        first_lookup = True

        async def once():
            nonlocal first_lookup
            async with self.db.write() as conn:
                await idempotency.lock(conn, key)
                prior = await idempotency.lookup(conn, key, tool, req_hash)
                if prior is not None:
                    return prior, first_lookup
                first_lookup = False
                stored = await body(conn)
                await idempotency.remember(conn, key, tool, req_hash, stored)
                return stored, False

        stored, replayed = await self._with_retries(system, operation, once, tries)
        return stored, replayed, tries[0]

    async def _landed(self, key: str, tool: str, req_hash: str) -> tuple[dict | None, bool]:
        """After the gateway gave up: did the write land anyway? Ask the idempotency record.

        Returns (stored result or None, whether the answer is known): when the record cannot be
        read either, nobody knows whether the write happened, and the result must say so.
        """
        try:
            async with self.db.read() as conn:
                return await idempotency.lookup(conn, key, tool, req_hash), True
        except Exception:
            return None, False

    # ------------------------------------------------------------------ reads

    async def _run_read(self, spec: ToolSpec, args, ctx, base, timings) -> ToolResult:
        check_owner = spec.owner is not None and ctx.actor.kind == "customer"

        async def owned_then_run(conn: AsyncConnection):
            # The ownership check and the read share one transaction: one snapshot, fewer round trips.
            if check_owner:
                owner = await spec.owner(conn, args)
                if owner is None:
                    return ToolErrorInfo(code="not_found", message="no such record")
                if owner != ctx.actor.user_id:
                    return ToolErrorInfo(
                        code="not_owner",
                        message="that record belongs to another customer; it cannot be shared or changed",
                    )
            return await spec.run(self.env, conn, args, ctx)

        t0 = time.perf_counter()
        try:
            output = await self._read(spec.system, spec.name, owned_then_run)
        except BackofficeError as exc:
            return ToolResult(**base, status=_status_for(exc), error=_not_applied(exc))
        finally:
            timings["run_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        if isinstance(output, ToolErrorInfo):
            return ToolResult(**base, status="rejected", error=output)
        return ToolResult(**base, status="ok", output=output.model_dump(mode="json"))

    # ------------------------------------------------------------------ single-system writes

    async def _run_write(self, spec: ToolSpec, args, ctx, key, base, timings) -> ToolResult:
        req_hash = idempotency.request_hash(spec.name, args.model_dump(mode="json"))
        base["idempotency_key"] = key

        async def body(conn: AsyncConnection) -> dict:
            output = await spec.run(self.env, conn, args, ctx)
            return {
                "output": output.model_dump(mode="json"),
                "confirmation_id": idempotency.confirmation_id(key, spec.confirmation_prefix),
            }

        t0 = time.perf_counter()
        tries = [0]
        try:
            stored, replayed, attempts = await self._apply_once(
                spec.system, spec.name, key, spec.name, req_hash, body, tries
            )
        except SystemFailure as exc:
            attempts = tries[0]
            stored, known = (
                (None, True) if isinstance(exc, SystemUnavailable) else await self._landed(key, spec.name, req_hash)
            )
            if stored is None:
                timings["run_ms"] = round((time.perf_counter() - t0) * 1000, 2)
                error = _error(exc)
                # Whether anything was written: False proven by the missing idempotency record.
                error.details["applied"] = False if known else None
                return ToolResult(**base, status=_status_for(exc), error=error, attempts=attempts)
            replayed = False
        except BackofficeError as exc:
            timings["run_ms"] = round((time.perf_counter() - t0) * 1000, 2)
            return ToolResult(**base, status=_status_for(exc), error=_error(exc), attempts=tries[0])
        timings["run_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        output = spec.output.model_validate(stored["output"])
        t1 = time.perf_counter()
        verification = await self._verify(spec, args, output, stored.get("confirmation_id"))
        timings["verify_ms"] = round((time.perf_counter() - t1) * 1000, 2)
        return ToolResult(
            **base,
            status="ok" if verification.verified else "unverified",
            output=stored["output"],
            verification=verification,
            replayed=replayed,
            attempts=attempts,
        )

    async def _verify(self, spec: ToolSpec, args, output, confirmation: str | None) -> Verification:
        try:
            checks, evidence = await self._read(
                spec.system, "verify", lambda conn: spec.verify(self.env, conn, args, output)
            )
        except BackofficeError as exc:
            return Verification(verified=False, error=_error(exc))
        return Verification(
            verified=True, confirmation_id=confirmation, checks=checks, evidence=evidence, verified_at=utcnow()
        )

    # ------------------------------------------------------------------ sagas

    async def _run_saga(self, spec: ToolSpec, args, ctx, key, base, timings) -> ToolResult:
        args_json = args.model_dump(mode="json")
        base["idempotency_key"] = key
        user_id = spec.user_of(args, ctx) if spec.user_of else ctx.actor.user_id
        try:
            record = await self._saga_for(spec, key, args_json, user_id)
        except BackofficeError as exc:
            return ToolResult(**base, status=_status_for(exc), error=_not_applied(exc))
        base["workflow_id"] = record.workflow_id
        if record.status in ("completed", "compensated", "needs_reconciliation") and record.result:
            # A repeat of a finished saga: the first result, nothing written again.
            prior = ToolResult.model_validate(record.result)
            return prior.model_copy(update={"replayed": True, "audit_id": None})

        state = SagaState(args=args, ctx=ctx, saga_id=record.workflow_id, key=key)
        stages: list[StageRecord] = []
        done: list[tuple[SagaStage, dict]] = []
        pivoted = False
        failure: tuple[SagaStage, BackofficeError] | None = None
        t0 = time.perf_counter()
        for stage in spec.stages or []:
            if stage.when is not None and not stage.when(state):
                stages.append(StageRecord(name=stage.name, system=stage.system, status="skipped", attempts=0))
                continue
            stage_key = f"{key}:{stage.name}"
            req_hash = idempotency.request_hash(f"{spec.name}.{stage.name}", args_json)
            try:
                stored, _, attempts = await self._apply_once(
                    stage.system,
                    stage.name,
                    stage_key,
                    f"{spec.name}.{stage.name}",
                    req_hash,
                    lambda conn, stage=stage: stage.action(self.env, conn, state),
                )
            except SystemFailure as exc:
                landed, _ = (
                    (None, True)
                    if isinstance(exc, SystemUnavailable)
                    else await self._landed(stage_key, f"{spec.name}.{stage.name}", req_hash)
                )
                if landed is None:
                    stages.append(StageRecord(name=stage.name, system=stage.system, status="failed", error=_error(exc)))
                    failure = (stage, exc)
                    break
                stored, attempts = landed, self.env.policy.max_attempts
            except BackofficeError as exc:
                stages.append(StageRecord(name=stage.name, system=stage.system, status="failed", error=_error(exc)))
                failure = (stage, exc)
                break
            state.results[stage.name] = stored
            try:
                checks = await self._read(
                    stage.system,
                    "verify",
                    lambda conn, stage=stage, stored=stored: stage.verify(self.env, conn, state, stored),
                )
            except BackofficeError as exc:
                stages.append(
                    StageRecord(
                        name=stage.name,
                        system=stage.system,
                        status="failed",
                        attempts=attempts,
                        result=stored,
                        error=_error(exc),
                        verified=False,
                    )
                )
                # The write may stand but is unproven: treat it as done for compensation purposes.
                done.append((stage, stored))
                pivoted = pivoted or stage.pivot
                failure = (stage, exc)
                break
            stages.append(
                StageRecord(
                    name=stage.name,
                    system=stage.system,
                    status="done",
                    attempts=attempts,
                    result=stored | {"checks": checks},
                    verified=True,
                )
            )
            done.append((stage, stored))
            pivoted = pivoted or stage.pivot
            record.steps = stages
            await self._save_saga(record)
        timings["run_ms"] = round((time.perf_counter() - t0) * 1000, 2)

        if failure is None:
            output = spec.finish(state) if spec.finish else spec.output()
            status, reason = "ok", None
            record.status = "completed"
            verification = Verification(
                verified=True,
                confirmation_id=idempotency.confirmation_id(key, spec.confirmation_prefix),
                checks=[c for s in stages for c in (s.result or {}).get("checks", [])],
                evidence={s.name: s.result for s in stages if s.result},
                verified_at=utcnow(),
            )
            result = ToolResult(
                **base, status=status, output=output.model_dump(mode="json"), verification=verification, steps=stages
            )
        else:
            failed_stage, exc = failure
            # The reason and the error's "step" detail are text and JSON that clients and the export
            # read: they keep the word those were first written with.
            if pivoted:
                status = "needs_reconciliation"
                reason = f"step {failed_stage.name} failed after money or messages had moved: {exc.message}"
            else:
                undone = await self._compensate(state, done, stages)
                if undone:
                    status, reason = "failed", f"step {failed_stage.name} failed ({exc.message}); earlier steps undone"
                else:
                    status, reason = "needs_reconciliation", f"step {failed_stage.name} failed and could not be undone"
            record.status = "compensated" if status == "failed" else "needs_reconciliation"
            output = spec.finish(state) if (spec.finish and status == "needs_reconciliation") else None
            result = ToolResult(
                **base,
                status="unavailable" if (status == "failed" and isinstance(exc, SystemUnavailable)) else status,
                output=output.model_dump(mode="json") if output else None,
                error=ToolErrorInfo(code=exc.code, message=reason or exc.message, details={"step": failed_stage.name}),
                verification=Verification(verified=False, error=_error(exc)),
                steps=stages,
            )
            if not isinstance(exc, SystemFailure) and status == "failed" and not done:
                # A business rule refused the first write: nothing happened, plain rejection.
                result.status = _status_for(exc)
            record.reason = reason
        record.steps = stages
        record.result = result.model_dump(mode="json")
        await self._save_saga(record)
        return result

    async def _saga_for(self, spec, key, args_json, user_id) -> sagas.SagaRecord:
        async def once():
            async with self.db.write() as conn:
                existing = await sagas.by_key(conn, key)
                if existing is not None:
                    if existing.kind != spec.name or existing.arguments != args_json:
                        raise InvalidArguments(
                            f"idempotency key {key!r} was already used for a different request",
                            code="idempotency_key_reused",
                        )
                    return existing
                now = utcnow()
                record = sagas.SagaRecord(
                    workflow_id="WF-" + hashlib.sha256(key.encode()).hexdigest()[:12].upper(),
                    kind=spec.name,
                    idempotency_key=key,
                    status="running",
                    user_id=user_id,
                    arguments=args_json,
                    created_at=now,
                    updated_at=now,
                )
                await sagas.create(conn, record)
                return record

        return await self._with_retries(governance_records.SYSTEM, "start_saga", once)

    async def _save_saga(self, record: sagas.SagaRecord) -> None:
        for attempt in range(3):
            try:
                await sagas.save(self.db, record)
                return
            except Exception:
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _compensate(
        self, state: SagaState, done: list[tuple[SagaStage, dict]], stages: list[StageRecord]
    ) -> bool:
        ok = True
        for stage, stored in reversed(done):
            if stage.compensate is None:
                ok = False
                continue
            undo_key = f"{state.key}:{stage.name}:undo"
            req_hash = idempotency.request_hash(f"undo.{stage.name}", {"key": state.key})
            try:
                await self._apply_once(
                    stage.system,
                    f"{stage.name}.undo",
                    undo_key,
                    f"undo.{stage.name}",
                    req_hash,
                    lambda conn, stage=stage, stored=stored: stage.compensate(self.env, conn, state, stored),
                )
            except BackofficeError as exc:
                ok = False
                for rec in stages:
                    if rec.name == stage.name:
                        rec.status = "compensation_failed"
                        rec.error = _error(exc)
                continue
            for rec in stages:
                if rec.name == stage.name:
                    rec.status = "compensated"
        return ok

    # ------------------------------------------------------------------ audit

    async def _audit(
        self, spec: ToolSpec, raw_args: dict, ctx: CallContext, result: ToolResult, timings: dict
    ) -> int | None:
        result.call_id = result.call_id or uuid.uuid4().hex
        entry = audit.AuditEntry(
            call_id=result.call_id,
            tool=spec.name,
            write=spec.write,
            risk=result.risk,
            actor=ctx.actor.model_dump(mode="json"),
            arguments=raw_args,
            idempotency_key=result.idempotency_key,
            workflow_id=result.workflow_id or ctx.session_id,
            status=result.status,
            verified=result.verified,
            result=result.output,
            verification=result.verification.model_dump(mode="json") if result.verification else None,
            error=result.error.model_dump(mode="json") if result.error else None,
            timings=timings,
            duration_ms=result.duration_ms,
        )
        if not spec.write:
            self.read_audit.add(entry)
            return None
        for attempt in range(3):
            try:
                return await audit.record(self.db, entry)
            except Exception:
                await asyncio.sleep(0.05 * (attempt + 1))
        return None


__all__ = [
    "AccessDenied",
    "GovernancePolicy",
    "PreconditionFailed",
    "SagaStage",
    "SagaState",
    "ToolEnv",
    "ToolRegistry",
    "ToolRunner",
    "ToolSpec",
    "VerificationFailed",
]
