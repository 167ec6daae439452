"""The system registry: every system the back office holds, each declared once.

A `SystemSpec` names a system (the name gateway calls, fault rules, reconcile findings and
`/healthz` use), the tables it owns, the top-level keys its records travel under in the export
and how they are loaded and dumped, whether calls to it count against a circuit breaker of its
own, and the cross-system rules reconcile checks about it. Export and import, the gateway's
breakers and health, the tool registry's checks and reconcile all read `SYSTEMS`.

Registration refuses a spec that would make that list disagree with itself: a name used twice,
an export key or a table claimed by two systems, a system kept by one that is not registered.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import governance_records, invariants
from actions.approvals import approvals
from actions.audit import audit_log
from actions.idempotency import idempotency_keys
from actions.invariants import Invariant
from actions.sagas import sagas
from actions.systems import billing, claims, crm, identity, notifications, payments, retail, scheduler

ImportFn = Callable[[AsyncConnection, dict[str, Any]], Awaitable[dict[str, int]]]
ExportFn = Callable[[AsyncConnection], Awaitable[dict[str, Any]]]

# Fault rules match system names in lower case, and /healthz shows them as they are.
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class SystemSpec:
    name: str
    summary: str
    tables: tuple[Table, ...]  # every table it owns, in the order they are emptied
    export_keys: tuple[str, ...]  # the export's top-level keys that carry its records, in order
    import_records: ImportFn  # loads those keys into its emptied tables; an import may leave any out
    export_records: ExportFn  # dumps every one of its keys
    # The system whose store holds these records: calls to them go through that system and count
    # against its breaker, so this one has no breaker of its own.
    kept_by: str | None = None
    invariants: tuple[Invariant, ...] = ()  # the rules about its records reconcile checks
    store: bool = False  # the retail store (db.json shape): an import must carry its keys
    seeded: bool = False  # `Backoffice.seed` replaces its records with generated ones

    @property
    def breaker(self) -> str:
        """The name of the circuit breaker that calls to this system count against."""
        return self.kept_by or self.name


class SystemRegistry:
    """Systems in export order: the order their keys appear in an export."""

    def __init__(self, *specs: SystemSpec) -> None:
        self._systems: dict[str, SystemSpec] = {}
        self.add(*specs)

    def add(self, *specs: SystemSpec) -> None:
        for spec in specs:
            self._check(spec)
            self._systems[spec.name] = spec

    def _check(self, spec: SystemSpec) -> None:
        if not _NAME.fullmatch(spec.name):
            raise ValueError(f"system name {spec.name!r} must be lower-case letters, digits and _")
        if spec.name in self._systems:
            raise ValueError(f"system {spec.name!r} registered twice")
        if not spec.export_keys:
            raise ValueError(f"system {spec.name!r} names no export key for its records")
        if len(set(spec.export_keys)) != len(spec.export_keys):
            raise ValueError(f"system {spec.name!r} names an export key twice")
        for other in self._systems.values():
            shared = set(spec.export_keys) & set(other.export_keys)
            if shared:
                raise ValueError(
                    f"system {spec.name!r} exports under {', '.join(sorted(shared))}, "
                    f"which system {other.name!r} exports under already"
                )
            tables = {t.name for t in spec.tables} & {t.name for t in other.tables}
            if tables:
                raise ValueError(
                    f"system {spec.name!r} claims table {', '.join(sorted(tables))}, "
                    f"which system {other.name!r} owns already"
                )
            if spec.store and other.store:
                raise ValueError(f"system {spec.name!r} and system {other.name!r} cannot both be the store")
        if spec.kept_by is not None:
            keeper = self._systems.get(spec.kept_by)
            if keeper is None:
                raise ValueError(
                    f"system {spec.name!r} is kept by {spec.kept_by!r}, which is not registered (register it first)"
                )
            if keeper.kept_by is not None:
                raise ValueError(
                    f"system {spec.name!r} is kept by {keeper.name!r}, which is itself kept by {keeper.kept_by!r}"
                )

    def get(self, name: str) -> SystemSpec:
        try:
            return self._systems[name]
        except KeyError:
            raise ValueError(f"no system named {name!r} is registered (registered: {', '.join(self.names)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._systems

    def __iter__(self) -> Iterator[SystemSpec]:
        return iter(self._systems.values())

    def __len__(self) -> int:
        return len(self._systems)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._systems)

    @property
    def export_keys(self) -> tuple[str, ...]:
        """Every top-level key of an export, in the order an export writes them."""
        return tuple(key for spec in self for key in spec.export_keys)

    @property
    def store(self) -> SystemSpec | None:
        return next((spec for spec in self if spec.store), None)


SYSTEMS = SystemRegistry(
    SystemSpec(
        name=retail.SYSTEM,
        summary="the store: products, customers and their payment methods, orders",
        tables=(retail.orders, retail.payment_methods, retail.users, retail.variants, retail.products),
        export_keys=retail.EXPORT_KEYS,
        import_records=retail.import_data,
        export_records=retail.export_data,
        store=True,
    ),
    SystemSpec(
        name=claims.SYSTEM,
        summary="missing and damaged package claims, kept with the orders they are about",
        tables=(claims.claims,),
        export_keys=(claims.EXPORT_KEY,),
        import_records=claims.import_data,
        export_records=claims.export_data,
        kept_by=retail.SYSTEM,
        invariants=(invariants.claims_are_settled,),
        seeded=True,
    ),
    SystemSpec(
        name=payments.SYSTEM,
        summary="the ledger of refunds money moved for, and their reversals",
        tables=(payments.refunds,),
        export_keys=(payments.EXPORT_KEY,),
        import_records=payments.import_data,
        export_records=payments.export_data,
        invariants=(invariants.ledger_matches_orders,),
        seeded=True,
    ),
    SystemSpec(
        name=billing.SYSTEM,
        summary="plans, subscriptions with their entitlements, invoices and billing events",
        tables=(
            billing.events,
            billing.invoice_lines,
            billing.invoices,
            billing.entitlements,
            billing.subscriptions,
            billing.plans,
        ),
        export_keys=billing.EXPORT_KEYS,
        import_records=billing.import_data,
        export_records=billing.export_data,
        invariants=(invariants.entitlements_match_plans,),
        seeded=True,
    ),
    SystemSpec(
        name=identity.SYSTEM,
        summary="login accounts, one-time codes and password-reset links",
        tables=(identity.reset_links, identity.codes, identity.accounts),
        export_keys=identity.EXPORT_KEYS,
        import_records=identity.import_data,
        export_records=identity.export_data,
        seeded=True,
    ),
    SystemSpec(
        name=crm.SYSTEM,
        summary="support cases with their notes, and hand-off tickets",
        tables=(crm.notes, crm.cases, crm.tickets),
        export_keys=crm.EXPORT_KEYS,
        import_records=crm.import_data,
        export_records=crm.export_data,
        invariants=(invariants.taken_tickets_have_an_agent,),
        seeded=True,
    ),
    SystemSpec(
        name=scheduler.SYSTEM,
        summary="callback slots and their bookings",
        tables=(scheduler.bookings, scheduler.slots),
        export_keys=scheduler.EXPORT_KEYS,
        import_records=scheduler.import_data,
        export_records=scheduler.export_data,
        invariants=(invariants.slots_match_bookings,),
        seeded=True,
    ),
    SystemSpec(
        name=notifications.SYSTEM,
        summary="the outbox of emails and text messages sent to customers",
        tables=(notifications.outbox,),
        export_keys=(notifications.EXPORT_KEY,),
        import_records=notifications.import_data,
        export_records=notifications.export_data,
        seeded=True,
    ),
    SystemSpec(
        name=governance_records.SYSTEM,
        summary="what the tool runner keeps: approvals, saga records, the audit log, idempotency keys",
        tables=(approvals, sagas, audit_log, idempotency_keys),
        export_keys=governance_records.EXPORT_KEYS,
        import_records=governance_records.import_data,
        export_records=governance_records.export_data,
    ),
)
