"""Prometheus metrics every web surface shares (served by the application's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

# The name predates the desk's own package; dashboards know it by this name.
REFUSED = Counter("frontdesk_chat_refused_total", "Frames or requests refused", ["code"])
