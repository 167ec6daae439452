"""Several servers on one store: live frames fan out per process, the store is shared. `SessionWatcher`
polls it for sessions another server changed and hands them to its followers (the desk's consoles,
a channel's open sockets), which pass on what was said there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select

from dialogue.api import TurnResult
from dialogue.engine import DialogueEngine
from dialogue.state import ConversationState
from dialogue.store import TranscriptEntry, sessions

log = logging.getLogger("frontdesk.desk")


class Follower(Protocol):
    def following(self) -> bool:
        """Whether anything is open here that changes made elsewhere must reach."""

    def follows(self, session_id: str) -> bool:
        """Whether this session's changes made elsewhere must reach something open here."""

    def changed(self, state: ConversationState, new: list[TranscriptEntry]) -> None:
        """Another server changed the session: its state now and the transcript lines it added."""


class SessionWatcher:
    def __init__(self, engine: DialogueEngine, interval_s: float) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.followers: list[Follower] = []
        # When each session's state was last seen from here (a result of this process or a poll).
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        engine.listeners.append(self._on_result)

    def follow(self, follower: Follower) -> None:
        self.followers.append(follower)

    def _on_result(self, session_id: str, result: TurnResult) -> None:
        # Runs inside the engine's turn: it only notes the change as this process's own.
        self._seen[session_id] = result.state.updated_at
        self.start()

    def start(self) -> None:
        """Start following changes other servers make (once, from the first socket or result on)."""
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to follow yet
                self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        mark = datetime.now(UTC) - timedelta(seconds=5)
        while True:
            await asyncio.sleep(self.interval_s)
            if not any(f.following() for f in self.followers):
                continue
            try:
                mark = await self._catch_up(mark)
            except Exception:
                log.exception("could not look for changes made by other servers")

    async def _catch_up(self, mark: datetime) -> datetime:
        stmt = select(sessions.c.session_id, sessions.c.updated_at).where(sessions.c.updated_at > mark)
        async with self.engine.store.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        newest = mark
        for row in rows:
            at = _aware(row.updated_at)
            newest = max(newest, at - timedelta(seconds=2))  # writers commit out of timestamp order
            seen = self._seen.get(row.session_id)
            if (seen is not None and at <= seen) or self.engine.busy(row.session_id):
                continue  # our own change, or one of our turns is under way (its result fans out)
            if seen is None and not any(f.follows(row.session_id) for f in self.followers):
                self._seen[row.session_id] = at
                continue
            self.engine.forget(row.session_id)
            state = await self.engine.load(row.session_id)
            if state is None:
                continue
            new = []
            if seen is not None:
                new = [t for t in await self.engine.transcript(row.session_id) if _aware(t.at) > seen]
            self._seen[row.session_id] = state.updated_at
            for follower in self.followers:
                try:
                    follower.changed(state, new)
                except Exception:
                    log.exception("could not pass on a change made by another server")
        if len(self._seen) > 50_000:  # bounded: forgetting only costs a re-check
            self._seen.clear()
        return newest


def _aware(at: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)
