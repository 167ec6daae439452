"""Prometheus metrics of the chat channel (served by the application's `/metrics`); refusals are
counted in `desk.web.metrics.REFUSED`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SOCKETS = Gauge("frontdesk_chat_sockets", "Open chat WebSockets (customers)")
TURNS = Counter("frontdesk_chat_turns_total", "Customer turns handled by the chat channel", ["transport"])
TURN_SECONDS = Histogram(
    "frontdesk_chat_turn_seconds",
    "Time from a customer's message to the end of the bot's turn",
    ["transport"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
