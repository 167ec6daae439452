"""Conversation persistence: the workflow state, the transcript and the trajectory of each session.

Saved after every turn in the same database as the back office (so several servers on one
PostgreSQL share sessions). A save is guarded by the state's turn number: a writer holding an
older copy cannot overwrite a newer turn.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, bindparam, insert, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import BatchedInserts, Database, metadata
from actions.models import utcnow
from dialogue.state import ConversationState

sessions = Table(
    "dialogue_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("channel", String(20), nullable=False),
    Column("mode", String(20), nullable=False, index=True),
    Column("outcome", String(30), nullable=False, index=True),
    Column("user_id", String(80), index=True),
    Column("turn", Integer, nullable=False),
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("state", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
)

transcripts = Table(
    "dialogue_transcript",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("turn", Integer, nullable=False),
    Column("role", String(20), nullable=False),
    Column("text", String(8000), nullable=False),
    Column("language", String(8)),
    Column("extra", JSON),
    Column("at", DateTime(timezone=True), nullable=False),
)

trajectory = Table(
    "dialogue_trajectory",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("turn", Integer, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("name", String(120), nullable=False),
    Column("data", JSON),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer),
)


# Built once: building a statement per call cost more than the database's own work (the VALUES of
# an UPDATE come from the keys of the parameters, so the `b_` names keep clear of the columns).
_LOAD = select(sessions.c.state).where(sessions.c.session_id == bindparam("b_session_id"))
_EXISTS = select(sessions.c.session_id).where(sessions.c.session_id == bindparam("b_session_id"))
_INSERT_SESSION = insert(sessions)
_UPDATE_SESSION = update(sessions).where(
    sessions.c.session_id == bindparam("b_session_id"), sessions.c.revision == bindparam("b_revision")
)
_INSERT_TRANSCRIPT = insert(transcripts)


class TranscriptEntry(BaseModel):
    turn: int
    role: str  # customer | bot | agent | system
    text: str
    language: str | None = None
    extra: dict[str, Any] | None = None
    at: datetime = Field(default_factory=utcnow)


class TrajectoryEvent(BaseModel):
    """One step of a turn: understanding, decision, tool call, verification, response."""

    turn: int
    kind: str
    name: str
    data: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime = Field(default_factory=utcnow)
    duration_ms: int = 0


class StaleState(RuntimeError):
    """Another writer saved a newer turn of this session."""


class SessionStore:
    def __init__(self, db: Database):
        self.db = db
        # Trajectory events are for QA and tracing, not for answering: written in batches.
        self._events = BatchedInserts(db, trajectory)

    async def open(self) -> None:
        async with self.db.write() as conn:
            for table in (sessions, transcripts, trajectory):
                await conn.run_sync(lambda sync_conn, t=table: t.create(sync_conn, checkfirst=True))
            await conn.run_sync(_add_revision_column)

    async def load(self, session_id: str) -> ConversationState | None:
        async with self.db.read() as conn:
            row = (await conn.execute(_LOAD, {"b_session_id": session_id})).first()
        return ConversationState.model_validate(row.state) if row else None

    async def exists(self, session_id: str) -> bool:
        async with self.db.read() as conn:
            return (await conn.execute(_EXISTS, {"b_session_id": session_id})).first() is not None

    async def save(
        self,
        state: ConversationState,
        *,
        previous_revision: int | None,
        transcript: list[TranscriptEntry] = (),
        events: list[TrajectoryEvent] = (),
    ) -> None:
        """Persist the state with this turn's transcript lines and trajectory events, atomically.

        `previous_revision` is the revision this writer started from (None for a new session); when the
        store holds another, someone else changed the conversation meanwhile and `StaleState` is raised.
        """
        state.updated_at = utcnow()
        revision = 1 if previous_revision is None else previous_revision + 1
        doc = state.model_dump(mode="json")
        doc["revision"] = revision
        values = {
            "channel": state.channel,
            "mode": state.mode,
            "outcome": state.outcome,
            "user_id": state.identity.user_id,
            "turn": state.turn,
            "revision": revision,
            "state": doc,
            "updated_at": state.updated_at,
        }
        async with self.db.write() as conn:
            if previous_revision is None:
                await conn.execute(
                    _INSERT_SESSION, {"session_id": state.session_id, "created_at": state.created_at, **values}
                )
            else:
                res = await conn.execute(
                    _UPDATE_SESSION, {"b_session_id": state.session_id, "b_revision": previous_revision, **values}
                )
                if res.rowcount != 1:
                    raise StaleState(f"session {state.session_id} was saved by another writer")
            await self._append(conn, state.session_id, transcript, events)
        state.revision = revision  # only once stored: a refused copy keeps the revision it came from

    async def _append(self, conn: AsyncConnection, session_id: str, transcript, events) -> None:
        if transcript:
            await conn.execute(_INSERT_TRANSCRIPT, [{"session_id": session_id, **t.model_dump()} for t in transcript])
        if events:
            self._events.add(
                *({"session_id": session_id, **e.model_dump(mode="json"), "started_at": e.started_at} for e in events)
            )

    async def close(self) -> None:
        await self._events.close()

    async def transcript(self, session_id: str) -> list[TranscriptEntry]:
        async with self.db.read() as conn:
            rows = (
                (
                    await conn.execute(
                        select(transcripts).where(transcripts.c.session_id == session_id).order_by(transcripts.c.id)
                    )
                )
                .mappings()
                .all()
            )
        return [TranscriptEntry.model_validate(dict(r)) for r in rows]

    async def events(self, session_id: str) -> list[TrajectoryEvent]:
        await self._events.flush()
        async with self.db.read() as conn:
            rows = (
                (
                    await conn.execute(
                        select(trajectory).where(trajectory.c.session_id == session_id).order_by(trajectory.c.id)
                    )
                )
                .mappings()
                .all()
            )
        return [TrajectoryEvent.model_validate(dict(r)) for r in rows]

    async def list_by(
        self, *, mode: str | None = None, outcome: str | None = None, limit: int = 200
    ) -> list[ConversationState]:
        stmt = select(sessions.c.state).order_by(sessions.c.updated_at.desc()).limit(limit)
        if mode:
            stmt = stmt.where(sessions.c.mode == mode)
        if outcome:
            stmt = stmt.where(sessions.c.outcome == outcome)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [ConversationState.model_validate(r.state) for r in rows]


def _add_revision_column(sync_conn) -> None:
    """Stores made before sessions carried a revision get the column (every old row at revision 0)."""
    columns = {c["name"] for c in inspect(sync_conn).get_columns(sessions.name)}
    if "revision" not in columns:
        sync_conn.execute(text(f"ALTER TABLE {sessions.name} ADD COLUMN revision INTEGER NOT NULL DEFAULT 0"))
