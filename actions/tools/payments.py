"""The payments ledger, read for the customer: the refunds made for one of their orders.

Money that moved is recorded in the ledger (`actions.systems.payments`), whichever write moved it
(a cancellation, a return, a package claim); this is where "where is my refund?" is answered from.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.governance import ToolEnv, ToolSpec
from actions.models import CallContext, IdentityLevel, RiskClass
from actions.systems import payments as ledger
from actions.systems import retail as store
from actions.tools.retail_models import OrderRef


class OrderRefunds(BaseModel):
    refunds: list[ledger.Refund]


async def _owner(conn: AsyncConnection, args: OrderRef) -> str | None:
    return await store.order_owner(conn, args.order_id)


async def _refunds(env: ToolEnv, conn: AsyncConnection, args: OrderRef, ctx: CallContext) -> OrderRefunds:
    return OrderRefunds(refunds=await ledger.refunds_for_order(conn, args.order_id))


def tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            "get_order_refunds",
            "The refunds the payments ledger holds for one of the customer's orders: amount, method, status, when.",
            ledger.SYSTEM,
            OrderRef,
            OrderRefunds,
            write=False,
            identity=IdentityLevel.basic,
            risk=RiskClass.read,
            run=_refunds,
            owner=_owner,
        )
    ]
