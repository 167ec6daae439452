"""The systems of record, a module each; `actions.systems.registry` declares them. Importing this
package registers every system's tables."""

from actions.systems import (  # noqa: F401
    billing,
    claims,
    crm,
    identity,
    notifications,
    payments,
    retail,
    scheduler,
)
