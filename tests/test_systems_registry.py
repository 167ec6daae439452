"""The system registry is the one list of systems: the export's keys, the gateway's breakers and
`/healthz`, the systems a tool may name and the rules reconcile checks all come from it, and a
spec that disagrees with it is refused when it is registered."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import Table

import actions
from actions import postconditions as post
from actions.backoffice import Backoffice
from actions.db import metadata
from actions.gateway import SystemGateway
from actions.governance import SagaStage, ToolRegistry, ToolSpec
from actions.invariants import Violation
from actions.models import Actor, CallContext, IdentityLevel, RiskClass
from actions.reconcile import reconcile
from actions.systems import claims, crm, retail
from actions.systems.registry import SYSTEMS, SystemRegistry, SystemSpec
from actions.tools import default_registry
from frontdesk.app import create_app
from frontdesk.settings import Settings
from tests import office as office_module
from tests.office import copy_of

office_template = office_module.office_template
office = office_module.office

AGENT = CallContext(actor=Actor(kind="agent", name="dana"))
TICKET = {"reason": "asked", "summary": {"issue": "x"}}

# The export's top-level keys as outside tools read them: the retail db.json keys, then the other
# systems' and governance's (interfaces: "retail db.json shape plus the other systems' keys").
EXPORT_SHAPE = [
    "products",
    "users",
    "orders",
    "claims",
    "payments_ledger",
    "plans",
    "subscriptions",
    "entitlements",
    "invoices",
    "billing_events",
    "accounts",
    "one_time_codes",
    "password_resets",
    "cases",
    "tickets",
    "callback_slots",
    "callback_bookings",
    "notifications",
    "approvals",
    "workflows",
    "audit_log",
    "idempotency_keys",
]


async def _nothing(conn, data=None) -> dict:
    return {}


def _system(name: str, *, keys: tuple[str, ...] | None = None, tables: tuple[Table, ...] = (), **kw) -> SystemSpec:
    return SystemSpec(
        name=name,
        summary=f"the {name} system",
        tables=tables,
        export_keys=keys or (f"{name}_records",),
        import_records=_nothing,
        export_records=_nothing,
        **kw,
    )


# ------------------------------------------------------------------ one list


async def test_an_export_has_every_registered_key_in_the_shape_outside_tools_read(tmp_path):
    bo = await Backoffice(f"sqlite:///{tmp_path / 'empty.sqlite3'}").open()
    try:
        exported = await bo.export_data()
    finally:
        await bo.close()
    assert list(exported) == list(SYSTEMS.export_keys) == EXPORT_SHAPE


def test_every_table_of_the_back_office_belongs_to_exactly_one_registered_system():
    """An import empties the tables of the registered systems: a table no system owns would keep
    stale records through an import, and one owned twice would be loaded twice."""
    tables: set[str] = set()
    for info in pkgutil.walk_packages(actions.__path__, "actions."):
        module = importlib.import_module(info.name)
        tables |= {t.name for t in vars(module).values() if isinstance(t, Table) and t.metadata is metadata}
    owners = {table: [s.name for s in SYSTEMS if table in {t.name for t in s.tables}] for table in tables}
    assert {table: names for table, names in owners.items() if len(names) != 1} == {}


async def test_healthz_lists_every_registered_system_with_its_breaker(tmp_path):
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'h.sqlite3'}", data_dir=tmp_path))
    gateway = app.state.backoffice.gateway
    gateway.breaker("retail").force_open()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://frontdesk") as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and list(body["systems"]) == list(SYSTEMS.names)
    # Claims live with the orders: they are down when retail is, and only they.
    down = {name for name, state in body["systems"].items() if state == "open"}
    assert down == {"retail", "claims"}
    assert all(body["systems"][name] == "closed" for name in SYSTEMS.names if name not in down)


def test_the_gateway_has_a_breaker_per_system_that_keeps_its_own_records():
    gateway = SystemGateway()
    assert set(gateway.breakers) == {s.name for s in SYSTEMS if s.kept_by is None}
    assert gateway.breaker(claims.SYSTEM) is gateway.breaker(retail.SYSTEM)
    with pytest.raises(ValueError, match="no system named 'warehouse' is registered"):
        gateway.breaker("warehouse")


async def test_the_gateway_refuses_a_call_to_a_system_that_is_not_registered():
    async def never():
        raise AssertionError("an unregistered system was called")

    with pytest.raises(ValueError, match="'warehouse'"):
        await SystemGateway().call("warehouse", "ship", never)


def test_the_gateway_reports_the_systems_of_the_registry_it_is_given():
    systems = SystemRegistry(_system("orders"), _system("returns", kept_by="orders"))
    gateway = SystemGateway(systems=systems)
    gateway.breaker("orders").force_open()
    assert gateway.health() == {"orders": "open", "returns": "open"}
    assert set(gateway.breakers) == {"orders"}


# ------------------------------------------------------------------ refusals at registration


def test_a_system_that_disagrees_with_the_registry_is_refused():
    systems = SystemRegistry(_system("orders", tables=(retail.orders,)))
    refusals = {
        "registered twice": _system("orders", keys=("other",)),
        "exports under orders_records, which system 'orders' exports under already": _system(
            "mirror", keys=("orders_records",)
        ),
        f"claims table {retail.orders.name}, which system 'orders' owns already": _system(
            "mirror", tables=(retail.orders,)
        ),
        "kept by 'ledger', which is not registered": _system("refunds", kept_by="ledger"),
        "names no export key": dataclasses.replace(_system("empty"), export_keys=()),
        "lower-case": _system("Orders"),
    }
    for message, spec in refusals.items():
        with pytest.raises(ValueError, match=message):
            systems.add(spec)
    systems.add(_system("returns", kept_by="orders"))
    with pytest.raises(ValueError, match="'returns', which is itself kept by 'orders'"):
        systems.add(_system("labels", kept_by="returns"))
    assert systems.names == ("orders", "returns")


class Ref(BaseModel):
    ticket_id: str


async def _run(env, conn, args, ctx) -> Ref:
    return args


async def _verify(env, conn, args, out):
    return [], {}


def _tool(name: str = "stamp_ticket", *, system: str = "crm", write: bool = True, **kw) -> ToolSpec:
    fields = {"run": _run, "verify": _verify, "risk": RiskClass.routine} | kw
    return ToolSpec(name, "A test tool.", system, Ref, Ref, write=write, identity=IdentityLevel.none, **fields)


async def _stage(env, conn, state) -> dict:
    return {}


async def _stage_verify(env, conn, state, stored) -> list[str]:
    return []


def test_a_tool_that_names_an_unregistered_system_or_declares_an_impossible_check_is_refused():
    registry = default_registry()
    before = {spec.name for spec in registry}
    refusals = {
        "tool 'stamp_ticket' names system 'warehouse', which is not registered": _tool(system="warehouse"),
        "stage 'ship' of tool 'stamp_ticket' names system 'warehouse'": _tool(
            run=None, verify=None, stages=[SagaStage("ship", "warehouse", _stage, _stage_verify)]
        ),
        "declares a reconcile check but never writes": _tool(
            write=False, risk=RiskClass.read, reconcile=post.ORDER_ADDRESS
        ),
        "saga 'stamp_ticket' has no stages": _tool(run=None, verify=None, stages=[]),
    }
    for message, spec in refusals.items():
        with pytest.raises(ValueError, match=message):
            registry.add(spec)
    assert {spec.name for spec in registry} == before, "a refused spec is not registered"
    registry.add(_tool())
    assert "stamp_ticket" in registry


def test_a_tool_registry_checks_tools_against_the_systems_it_is_given():
    registry = ToolRegistry(SystemRegistry(_system("orders")))
    registry.add(_tool(system="orders"))
    with pytest.raises(ValueError, match=r"names system 'crm', which is not registered \(registered: orders\)"):
        registry.add(_tool("other", system="crm"))


# ------------------------------------------------------------------ reconcile reads the declarations


def test_every_write_that_reconcile_checked_still_declares_its_check():
    checked = {spec.name for spec in default_registry() if spec.reconcile is not None}
    assert checked == {
        "cancel_pending_order",
        "modify_pending_order_address",
        "modify_pending_order_payment",
        "modify_pending_order_items",
        "return_delivered_order_items",
        "exchange_delivered_order_items",
        "modify_user_address",
        "refund_package",
        "change_subscription",
        "cancel_subscription",
        "reset_password",
        "book_callback",
        "create_handoff_ticket",
        "take_handoff_ticket",
        "close_handoff_ticket",
    }


async def test_reconcile_checks_the_post_condition_the_tool_spec_declares(office):
    ticket = await office.call("create_handoff_ticket", TICKET, AGENT)
    assert ticket.ok
    assert (await reconcile(office.db)).clean
    # The same audit log read with a spec that expects the ticket closed: the open ticket is listed.
    strict = ToolRegistry()
    for spec in default_registry():
        if spec.name == "create_handoff_ticket":
            spec = dataclasses.replace(spec, reconcile=post.ticket_state("closed"))
        strict.add(spec)
    report = await reconcile(office.db, tools=strict)
    assert [(f.kind, f.system, f.tool, f.audit_id) for f in report.findings] == [
        ("postcondition_broken", "crm", "create_handoff_ticket", ticket.audit_id)
    ]


async def test_reconcile_checks_the_rules_the_registered_systems_declare(office_template, tmp_path):
    bo = Backoffice(copy_of(office_template, tmp_path / "rules.sqlite3"))
    try:
        assert (await reconcile(bo.db)).clean

        async def every_ticket(conn) -> list[Violation]:
            return [
                Violation(system="crm", subject=f"ticket:{t.ticket_id}", detail="flagged")
                for t in await crm.list_tickets(conn)
            ]

        assert (await bo.call("create_handoff_ticket", TICKET, AGENT)).ok
        spec = dataclasses.replace(SYSTEMS.get("crm"), invariants=(every_ticket,))
        systems = SystemRegistry(*(spec if s.name == "crm" else s for s in SYSTEMS))
        report = await reconcile(bo.db, systems=systems)
        assert [(f.kind, f.system, f.detail) for f in report.findings] == [("invariant", "crm", "flagged")]
    finally:
        await bo.close()
