"""Subscription tools: the plan catalogue, the customer's subscription, and the change and cancel sagas.

change_subscription: plan change with its prorated invoice and entitlements (billing, one
transaction) -> CRM case -> email (pivot). Undone by moving back to the old plan with a reversal
invoice that credits the new plan, so the money trail shows both moves.

cancel_subscription: cancel and revoke entitlements (billing, one transaction) -> CRM case ->
email (pivot). Undone by reinstating the same plan with its entitlements.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import postconditions as post
from actions.errors import PreconditionFailed
from actions.governance import SagaStage, SagaState, ToolEnv, ToolSpec
from actions.models import CallContext, IdentityLevel, RiskClass, utcnow
from actions.systems import billing as store
from actions.tools.common import (
    UserArgs,
    expect,
    money_text,
    owner_is_user_arg,
    stage_id,
    user_of,
)
from actions.tools.stages import crm_case_stage, notify_stage

SYSTEM = store.SYSTEM


class NoArgs(BaseModel):
    pass


class ChangeSubscriptionArgs(UserArgs):
    plan_id: str = Field(min_length=1, max_length=40, description="the plan to move to")


class CancelSubscriptionArgs(UserArgs):
    reason: str = Field(default="customer request", min_length=1, max_length=300)


class PlanList(BaseModel):
    plans: list[store.Plan]


class SubscriptionOut(BaseModel):
    subscription: store.Subscription
    plan: store.Plan
    current_period_start: date
    current_period_end: date
    entitlements: list[str]
    invoices: list[store.Invoice]


class SubscriptionChangeOut(BaseModel):
    user_id: str
    from_plan: str | None = None
    to_plan: str | None = None
    direction: str | None = None
    invoice_id: str | None = None
    prorated_total: float | None = None
    entitlements: list[str] = Field(default_factory=list)
    case_id: str | None = None
    notified: str | None = None


class SubscriptionCancelOut(BaseModel):
    user_id: str
    plan_id: str | None = None
    status: str | None = None
    case_id: str | None = None
    notified: str | None = None


# ------------------------------------------------------------------ reads


async def _list_plans(env: ToolEnv, conn: AsyncConnection, args: NoArgs, ctx: CallContext) -> PlanList:
    return PlanList(plans=await store.list_plans(conn))


async def _get_subscription(env: ToolEnv, conn: AsyncConnection, args: UserArgs, ctx: CallContext) -> SubscriptionOut:
    sub = await store.get_subscription(conn, args.user_id)
    start, end = store.current_period(sub, utcnow().date())
    return SubscriptionOut(
        subscription=sub,
        plan=await store.get_plan(conn, sub.plan_id),
        current_period_start=start,
        current_period_end=end,
        entitlements=await store.entitlements_of(conn, args.user_id),
        invoices=await store.invoices_for(conn, args.user_id, limit=5),
    )


# ------------------------------------------------------------------ change plan


async def _change(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    change = await store.change_plan(
        conn,
        state.args.user_id,
        state.args.plan_id,
        invoice_id=stage_id("INV", state, "change_plan"),
        reference=state.key,
    )
    return change.model_dump(mode="json")


async def _verify_change(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    user_id = state.args.user_id
    sub = await store.get_subscription(conn, user_id)
    plan = await store.get_plan(conn, stored["to_plan"])
    expect(sub.status == "active" and sub.plan_id == plan.plan_id, f"{user_id} is on the {plan.name} plan", checks)
    expect(
        await store.entitlements_of(conn, user_id) == sorted(set(plan.entitlements)),
        f"{user_id} has exactly the {plan.name} entitlements",
        checks,
    )
    invoice = await store.get_invoice(conn, stored["invoice"]["invoice_id"])
    expect(
        invoice.total == stored["invoice"]["total"] and len(invoice.lines) == 2,
        f"invoice {invoice.invoice_id} holds the prorated credit and charge ({invoice.total:.2f})",
        checks,
    )
    return checks


async def _revert_change(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> dict[str, Any]:
    sub = await store.get_subscription(conn, state.args.user_id)
    if sub.plan_id != stored["to_plan"]:
        raise PreconditionFailed(
            f"the subscription moved on to {sub.plan_id} since; the change to {stored['to_plan']} cannot be undone",
            code="changed_since",
        )
    change = await store.change_plan(
        conn,
        state.args.user_id,
        stored["from_plan"],
        invoice_id=stage_id("INV", state, "change_plan:undo"),
        reference=f"{state.key}:undo",
        reverting=True,
    )
    return {"plan_id": change.to_plan, "invoice_id": change.invoice.invoice_id, "total": change.invoice.total}


def _change_fields(state: SagaState) -> dict[str, Any]:
    c = state.results["change_plan"]
    return {
        "plan": c["to_name"],
        "from_plan": c["from_name"],
        "total": money_text(c["invoice"]["total"]),
        "invoice_id": c["invoice"]["invoice_id"],
    }


def _change_note(state: SagaState) -> str:
    c = state.results["change_plan"]
    lines = "; ".join(f"{line['description']}: {money_text(line['amount'])}" for line in c["invoice"]["lines"])
    invoice = c["invoice"]["invoice_id"]
    return f"{c['direction'].capitalize()} from {c['from_name']} to {c['to_name']}. Invoice {invoice}: {lines}."


def _finish_change(state: SagaState) -> SubscriptionChangeOut:
    c = state.results.get("change_plan", {})
    return SubscriptionChangeOut(
        user_id=state.args.user_id,
        from_plan=c.get("from_plan"),
        to_plan=c.get("to_plan"),
        direction=c.get("direction"),
        invoice_id=c.get("invoice", {}).get("invoice_id"),
        prorated_total=c.get("invoice", {}).get("total"),
        entitlements=c.get("entitlements", []),
        case_id=state.results.get("crm_note", {}).get("case_id"),
        notified=state.results.get("notify", {}).get("to"),
    )


# ------------------------------------------------------------------ cancel


async def _cancel(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    sub = await store.cancel(conn, state.args.user_id, reason=state.args.reason, reference=state.key)
    plan = await store.get_plan(conn, sub.plan_id)
    return sub.model_dump(mode="json") | {"plan_name": plan.name}


async def _verify_cancel(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    user_id = state.args.user_id
    sub = await store.get_subscription(conn, user_id)
    expect(sub.status == "cancelled" and not sub.renews, f"the subscription of {user_id} is cancelled", checks)
    expect(await store.entitlements_of(conn, user_id) == [], f"{user_id} has no entitlements left", checks)
    return checks


async def _reinstate(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> dict[str, Any]:
    sub = await store.reinstate(conn, state.args.user_id, plan_id=stored["plan_id"], reference=f"{state.key}:undo")
    return {"plan_id": sub.plan_id, "status": sub.status}


def _finish_cancel(state: SagaState) -> SubscriptionCancelOut:
    c = state.results.get("cancel", {})
    return SubscriptionCancelOut(
        user_id=state.args.user_id,
        plan_id=c.get("plan_id"),
        status=c.get("status"),
        case_id=state.results.get("crm_note", {}).get("case_id"),
        notified=state.results.get("notify", {}).get("to"),
    )


# ------------------------------------------------------------------ registry


def tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            "list_plans",
            "The subscription plans with their monthly prices and what each includes.",
            SYSTEM,
            NoArgs,
            PlanList,
            write=False,
            identity=IdentityLevel.none,
            risk=RiskClass.read,
            run=_list_plans,
        ),
        ToolSpec(
            "get_subscription",
            "The customer's subscription: plan, status, current period, entitlements, recent invoices.",
            SYSTEM,
            UserArgs,
            SubscriptionOut,
            write=False,
            identity=IdentityLevel.basic,
            risk=RiskClass.read,
            run=_get_subscription,
            owner=owner_is_user_arg,
        ),
        ToolSpec(
            "change_subscription",
            "Move the customer's subscription to another plan now, with a prorated invoice.",
            SYSTEM,
            ChangeSubscriptionArgs,
            SubscriptionChangeOut,
            write=True,
            identity=IdentityLevel.basic,
            risk=RiskClass.confirm,
            owner=owner_is_user_arg,
            stages=[
                SagaStage("change_plan", SYSTEM, _change, _verify_change, _revert_change),
                crm_case_stage(
                    subject=lambda s: f"Plan change to {s.results['change_plan']['to_name']}",
                    note=_change_note,
                    tags=lambda s: ["subscription", s.results["change_plan"]["direction"]],
                ),
                notify_stage(template="subscription_changed", fields=_change_fields),
            ],
            finish=_finish_change,
            confirmation_prefix="SB",
            reconcile=post.SUBSCRIPTION_PLAN,
            user_of=user_of,
        ),
        ToolSpec(
            "cancel_subscription",
            "Cancel the customer's subscription now; its benefits end and it does not renew.",
            SYSTEM,
            CancelSubscriptionArgs,
            SubscriptionCancelOut,
            write=True,
            identity=IdentityLevel.basic,
            risk=RiskClass.confirm,
            owner=owner_is_user_arg,
            stages=[
                SagaStage("cancel", SYSTEM, _cancel, _verify_cancel, _reinstate),
                crm_case_stage(
                    subject=lambda s: "Subscription cancelled",
                    note=lambda s: f"Cancelled the {s.results['cancel']['plan_name']} plan: {s.args.reason}.",
                    tags=lambda s: ["subscription", "cancel"],
                ),
                notify_stage(
                    template="subscription_cancelled",
                    fields=lambda s: {"plan": s.results["cancel"]["plan_name"]},
                ),
            ],
            finish=_finish_cancel,
            confirmation_prefix="SC",
            reconcile=post.SUBSCRIPTION_CANCELLED,
            user_of=user_of,
        ),
    ]
