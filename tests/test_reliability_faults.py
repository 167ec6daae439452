"""Faults through the whole dialogue, over the chat socket: a representative slice of the matrix that
`bench/reliability_faults.py` runs in full.

Each case plays one workflow's conversation over a real WebSocket (uvicorn serving the chat router
over the real engine), on its own copy of the seeded back office, with one fault injected on one
system call: a write, a saga step, a verification read or the hand-off ticket; once (the retries
absorb it) or on every call (the system stays broken). What the customer was told is then held
against what the systems hold and what `reconcile` reports (see tests/reliability_support.py):
never a false "done", never a write made twice, never an inconsistency reconcile stays silent about.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.faults import FaultKind
from tests import reliability_support as rs

DEADLINE_S = 0.3
K = FaultKind

# (workflow, system, operation, kind, persistent)
CASES = [
    ("cancel order", "retail", "cancel_pending_order", K.error, True),
    ("cancel order", "retail", "cancel_pending_order", K.timeout, True),
    ("cancel order", "retail", "cancel_pending_order", K.lost_response, False),
    ("cancel order", "retail", "cancel_pending_order", K.lost_response, True),
    ("cancel order", "retail", "cancel_pending_order", K.slow, False),
    ("cancel order", "retail", "verify", K.error, True),
    ("cancel order", "retail", "verify", K.timeout, False),
    ("subscription upgrade", "billing", "change_plan", K.error, True),
    ("subscription upgrade", "crm", "crm_note", K.timeout, True),
    ("subscription upgrade", "notifications", "notify", K.error, True),
    ("subscription upgrade", "notifications", "verify", K.lost_response, True),
    ("missing package refund", "payments", "refund", K.lost_response, True),
    ("missing package refund", "payments", "verify", K.timeout, True),
    ("missing package refund", "retail", "record_refund", K.error, True),
    ("schedule callback", "scheduler", "book", K.lost_response, False),
    ("schedule callback", "crm", "verify", K.error, True),
    ("hand-off ticket", "crm", "create_handoff_ticket", K.error, True),
    ("hand-off ticket", "crm", "verify", K.timeout, True),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability-faults")


@pytest.fixture(scope="module")
def template(workdir) -> Path:
    import asyncio

    return asyncio.run(rs.build_template(workdir / "template.sqlite3"))


_BASELINES: dict[str, tuple[dict, rs.CaseResult]] = {}


async def baseline(template: Path, workdir: Path, scenario: rs.Scenario) -> tuple[dict, rs.Pick, rs.CaseResult]:
    """The store before, the records picked, and the clean run of `scenario` (once per module)."""
    if scenario.name not in _BASELINES:
        before = await rs.export_of(rs.copy_template(template, workdir / "before.sqlite3"))
        pick = scenario.pick(before)
        clean = await rs.run_case(
            template,
            workdir,
            scenario,
            pick,
            fault=None,
            before=before,
            clean_after=None,
            timeout_s=DEADLINE_S,
            name="clean",
        )
        assert clean.verdict is not None and clean.verdict.outcome == "applied" and clean.verdict.told_done
        _BASELINES[scenario.name] = (before, clean)
    before, clean = _BASELINES[scenario.name]
    return before, scenario.pick(before), clean


@pytest.mark.parametrize(
    ("workflow", "system", "operation", "kind", "persistent"),
    CASES,
    ids=[f"{w}-{s}.{o}-{k.value}-{'always' if p else 'once'}" for w, s, o, k, p in CASES],
)
async def test_fault_never_yields_a_false_claim_a_double_write_or_a_silent_inconsistency(
    template, workdir, workflow, system, operation, kind, persistent
):
    scenario = rs.BY_NAME[workflow]
    before, pick, clean = await baseline(template, workdir, scenario)
    fault = rs.Fault(system, operation, kind, persistent=persistent, delay_s=DEADLINE_S * 0.5)
    result = await rs.run_case(
        template,
        workdir,
        scenario,
        pick,
        fault=fault,
        before=before,
        clean_after=clean.after,
        timeout_s=DEADLINE_S,
        name="case",
    )
    v = result.verdict
    assert result.crashed is None and v is not None, result.crashed
    assert result.fired >= 1, "the fault never fired: the case tested nothing"
    assert not v.false_claim, f"told done but {v.outcome}, verified={v.verified}: {v.detail}"
    assert not v.false_nothing_changed, f"told nothing changed but {v.outcome}: {v.detail}"
    assert not v.double_write, v.detail
    assert not v.unflagged, f"{v.outcome} state that reconcile does not flag: {v.detail}"
    assert not v.lost_handoff, "the customer was told a person would take over, but the chat is not in the queue"
    # What a customer notices: a blip the retries absorb still ends in a verified "done" (so does a
    # reply lost every time: the idempotency record answers); a system that keeps failing the write
    # itself never does, and every failure is said plainly or handed to a person.
    if not persistent:
        assert v.told_done and v.outcome == "applied", f"a single {kind.value} should be absorbed: {v}"
    if persistent and kind in (K.error, K.timeout) and operation == scenario.tool and workflow != "hand-off ticket":
        assert not v.told_done
    if persistent and kind is not K.slow and workflow != "hand-off ticket" and not v.told_done:
        assert v.handed_off or v.told_nothing_changed, "a failure must be said plainly or handed to a person"
