"""Prometheus metrics of the agent desk (served by the application's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Gauge

# The name predates the desk's own package; dashboards know it by this name.
AGENT_CONSOLES = Gauge("frontdesk_chat_agent_consoles", "Signed-in agent consoles")
