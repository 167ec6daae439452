"""SQLite run synchronously on the event loop, behind the face of SQLAlchemy's `AsyncConnection`.

A SQLite statement here takes tens of microseconds. Through SQLAlchemy's asyncio layer every
connect, BEGIN, statement, COMMIT and close is a greenlet hop, and through aiosqlite also a thread
round trip: measured, an empty write transaction cost 270 us that way against 54 us through the
plain synchronous engine, a one-row UPDATE 450 us against 114 us. So for SQLite the back office
drives a synchronous `Engine` right on the loop and hands the systems a `LoopConnection`, which
offers what they use of `AsyncConnection` (`await execute(...)`, `await run_sync(...)`,
`.dialect`), with rows read in full at execute just as the asyncio results are.

What makes blocking calls safe here:
- within a process, writers queue on an asyncio lock per database file before `BEGIN IMMEDIATE`
  (see `actions.db`), so a writer never sleeps inside SQLite waiting for a writer of this process;
- against writers of other processes, SQLite's own busy wait is short (`BUSY_WAIT_MS`) and
  `begin_immediate` retries with its sleeps on the event loop, not in SQLite;
- readers never wait for writers (WAL).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.exc import OperationalError

# How long one sqlite3 call may wait for another process's lock before giving the loop back.
BUSY_WAIT_MS = 20


class _PrefetchingCursor(sqlite3.Cursor):
    """Reads a query's rows in full when it runs, so a result stays readable after its transaction
    ends and never holds a statement open on a pooled connection (the asyncio results behave so)."""

    _rows: deque | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> _PrefetchingCursor:
        super().execute(sql, parameters)
        self._rows = deque(super().fetchall()) if self.description else None
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _PrefetchingCursor:
        self._rows = None
        super().executemany(sql, seq_of_parameters)
        return self

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        if not rows:
            return []
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = self._rows
        if not rows:
            return []
        self._rows = None
        return list(rows)


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Callable[..., sqlite3.Cursor] = _PrefetchingCursor) -> sqlite3.Cursor:
        return super().cursor(factory)


def creator(path: str) -> Callable[[], sqlite3.Connection]:
    """A `creator` for `create_engine` opening `path` with a short busy wait."""

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=BUSY_WAIT_MS / 1000, check_same_thread=False, factory=_Connection)

    return connect


async def begin_immediate(connection: Connection, timeout_s: float) -> None:
    """`BEGIN IMMEDIATE` on the connection's sqlite3 connection, waiting (on the loop) while another
    process holds the write lock; SQLAlchemy's `OperationalError` once `timeout_s` has passed."""
    driver: sqlite3.Connection = connection.connection.driver_connection
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        try:
            driver.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)


class LoopConnection:
    """Stands in for `AsyncConnection` over a synchronous `Connection` in a transaction."""

    __slots__ = ("sync_connection",)

    def __init__(self, sync_connection: Connection):
        self.sync_connection = sync_connection

    @property
    def dialect(self) -> Dialect:
        return self.sync_connection.dialect

    async def execute(
        self, statement: Any, parameters: Any = None, *, execution_options: dict | None = None
    ) -> CursorResult:
        return self.sync_connection.execute(statement, parameters, execution_options=execution_options)

    async def run_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(self.sync_connection, *args, **kwargs)
