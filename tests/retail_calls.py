"""How the retail tests drive the back office: governed calls as a customer, and store comparisons."""

from __future__ import annotations

from typing import Any

from actions.backoffice import Backoffice
from actions.models import Actor, CallContext, IdentityLevel, ToolResult
from tests.retail_reference import RETAIL_KEYS, Store, retail_part


def as_customer(
    user_id: str,
    *,
    confirmed: bool = True,
    key: str | None = None,
    level: IdentityLevel = IdentityLevel.basic,
    approval_id: str | None = None,
) -> CallContext:
    return CallContext(
        actor=Actor(kind="customer", user_id=user_id, identity_level=level),
        confirmed=confirmed,
        idempotency_key=key,
        approval_id=approval_id,
    )


async def call(bo: Backoffice, tool: str, args: dict[str, Any], user_id: str, **ctx: Any) -> ToolResult:
    """A governed call by the authenticated customer `user_id` (confirmed unless told otherwise)."""
    return await bo.call(tool, args, as_customer(user_id, **ctx))


async def store_of(bo: Backoffice) -> Store:
    return retail_part(await bo.export_data())


def _differences(actual: Store, expected: Store, limit: int = 5) -> list[str]:
    out = []
    for section in RETAIL_KEYS:
        a, e = actual.get(section, {}), expected.get(section, {})
        for key in sorted(set(a) | set(e)):
            if a.get(key) != e.get(key):
                out.append(f"{section}[{key!r}]:\n  back office: {a.get(key)!r}\n  expected:    {e.get(key)!r}")
                if len(out) >= limit:
                    return out
    return out


async def assert_store(bo: Backoffice, expected: Store) -> None:
    """The back office's retail store equals `expected` record for record, field for field."""
    actual = await store_of(bo)
    if actual != expected:
        raise AssertionError("the store differs from the expected one:\n" + "\n".join(_differences(actual, expected)))


def assert_ok(result: ToolResult) -> None:
    """A write that was applied and whose post-condition was read back."""
    assert result.status == "ok", (result.status, result.error)
    assert result.verification is not None and result.verification.verified, result.verification
    assert result.verification.confirmation_id, "a verified write carries a confirmation id"
    assert result.verification.checks, "a verified write lists what it checked"


def assert_rejected(result: ToolResult, code: str, *words: str) -> None:
    """Refused with `code`, and the message names the rule (each of `words` appears in it)."""
    assert result.status == "rejected", (result.status, result.error)
    assert result.error is not None and result.error.code == code, result.error
    message = result.error.message.lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in {result.error.message!r}"
    assert result.output is None and not result.verified
