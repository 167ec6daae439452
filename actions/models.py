"""Typed vocabulary shared by every governed tool: risk, identity, actor, call context, results."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RiskClass(StrEnum):
    """What a call needs before it runs. Stored values stay valid: `read` on a write recorded before
    `routine` existed loads as it was written (audit rows, exports, saved conversations)."""

    read = "read"  # a look-up: changes nothing
    routine = "routine"  # a write that runs without anyone's yes (a hand-off ticket, a one-time code)
    confirm = "confirm"  # needs the customer's explicit yes
    approve = "approve"  # needs a person's approval
    forbidden = "forbidden"


class IdentityLevel(StrEnum):
    none = "none"
    basic = "basic"  # email, or name + zip
    strong = "strong"  # one-time code

    @property
    def rank(self) -> int:
        return {"none": 0, "basic": 1, "strong": 2}[self.value]

    def at_least(self, other: IdentityLevel) -> bool:
        return self.rank >= other.rank


class Actor(BaseModel):
    """Who is asking. A customer actor is bound to the one user it authenticated as."""

    kind: Literal["customer", "agent", "system"] = "customer"
    user_id: str | None = None
    identity_level: IdentityLevel = IdentityLevel.none
    session_id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, name: str = "frontdesk") -> Actor:
        return cls(kind="system", identity_level=IdentityLevel.strong, name=name)


class CallContext(BaseModel):
    # A misspelt or retired field name fails loudly instead of being dropped.
    model_config = ConfigDict(extra="forbid")

    actor: Actor = Field(default_factory=Actor)
    idempotency_key: str | None = None
    confirmed: bool = False  # the customer said an explicit yes to exactly these details
    approval_id: str | None = None  # a person approved exactly this call
    session_id: str | None = None  # the conversation the call is made in, for the audit log


class ToolErrorInfo(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Verification(BaseModel):
    """Evidence that a write's post-condition holds, read back after the write."""

    verified: bool
    confirmation_id: str | None = None
    checks: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] | None = None
    error: ToolErrorInfo | None = None
    verified_at: datetime | None = None


ToolStatus = Literal[
    "ok",  # read done, or write done and verified
    "rejected",  # arguments, identity, ownership or a business rule said no; nothing written
    "needs_confirmation",
    "needs_approval",
    "forbidden",
    "conflict",
    "unavailable",  # circuit open or system failing: nothing written
    "failed",  # failed in a way that may or may not have written: see verification
    "unverified",  # the write was applied but its post-condition could not be confirmed
    "needs_reconciliation",  # a saga (multi-system write) could neither finish nor undo
]


class StageRecord(BaseModel):
    """One stage of a saga, as it ended."""

    name: str
    system: str
    status: Literal["done", "failed", "compensated", "compensation_failed", "skipped"]
    attempts: int = 1
    result: dict[str, Any] | None = None
    error: ToolErrorInfo | None = None
    verified: bool = False


class ToolResult(BaseModel):
    tool: str
    status: ToolStatus
    risk: RiskClass
    write: bool
    output: dict[str, Any] | None = None
    error: ToolErrorInfo | None = None
    verification: Verification | None = None
    # A saga's stages and its record's id. Both names are the JSON a saga's stored result and the
    # export carry ("steps", and "workflow_id" like the column), so they keep them.
    steps: list[StageRecord] = Field(default_factory=list)
    workflow_id: str | None = None
    audit_id: int | None = None  # the audit row, for writes (reads are audited in batches)
    call_id: str | None = None  # also on the audit entry, for every call
    idempotency_key: str | None = None
    replayed: bool = False
    attempts: int = 1
    duration_ms: float = 0.0
    systems: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def verified(self) -> bool:
        return bool(self.verification and self.verification.verified)


def utcnow() -> datetime:
    return datetime.now(UTC)
