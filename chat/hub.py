"""Fan-out: every open socket of a session gets every frame of that session, in order, and nothing else."""

from __future__ import annotations

from desk.web.outbox import Outbox


class SessionHub:
    """Which outboxes belong to which session."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Outbox]] = {}

    def subscribe(self, session_id: str, outbox: Outbox) -> None:
        self._subscribers.setdefault(session_id, set()).add(outbox)

    def unsubscribe(self, session_id: str, outbox: Outbox) -> None:
        subs = self._subscribers.get(session_id)
        if subs is None:
            return
        subs.discard(outbox)
        if not subs:
            del self._subscribers[session_id]

    def count(self, session_id: str) -> int:
        return len(self._subscribers.get(session_id, ()))

    def publish(self, session_id: str, frames: list[str]) -> None:
        for outbox in tuple(self._subscribers.get(session_id, ())):
            outbox.push_all(frames)

    @property
    def sockets(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    @property
    def sessions(self) -> int:
        return len(self._subscribers)
