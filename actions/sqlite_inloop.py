"""SQLite for SQLAlchemy's asyncio engine, run on the event loop instead of a worker thread.

aiosqlite hands every call (cursor, execute, fetch, close, BEGIN, COMMIT) to a thread and back;
measured here, an empty transaction cost 1.7 ms of such round trips while the statements
themselves take tens of microseconds. This adapter offers the same awaitable interface that
SQLAlchemy's aiosqlite dialect drives (`async_creator=`), but runs each sqlite3 call directly.

What makes blocking calls safe here:
- within a process, writers queue on an asyncio lock per database file before `BEGIN IMMEDIATE`
  (see `actions.db`), so a writer never sleeps inside SQLite waiting for a writer of this process;
- against writers of other processes, SQLite's own busy wait is short (`BUSY_WAIT_MS`) and the
  retry around `BEGIN IMMEDIATE` sleeps on the event loop, not in SQLite;
- readers never wait for writers (WAL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# How long one sqlite3 call may wait for another process's lock before giving the loop back.
BUSY_WAIT_MS = 20


class _Cursor:
    """The awaitable cursor SQLAlchemy's async adapter expects, over a plain sqlite3 cursor."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict | None = None) -> _Cursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Sequence[Any] | dict]) -> _Cursor:
        self._cursor.executemany(sql, seq)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's job queue, which SQLAlchemy uses to set `isolation_level`."""

    def put_nowait(self, job: tuple[Any, Callable[[], None]]) -> None:
        future, function = job
        try:
            function()
        except Exception as exc:  # the adapter re-raises it from the future
            future.set_exception(exc)
        else:
            future.set_result(None)


class InLoopConnection:
    """The awaitable connection SQLAlchemy's aiosqlite adapter drives, over a sqlite3 connection."""

    def __init__(self, connection: sqlite3.Connection):
        self._conn = connection
        self._connection = connection  # the adapter checks this is set before commit/rollback
        self._tx = _RunNow()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> _Cursor:
        return await self.cursor().execute(sql, parameters)

    def begin(self, mode: str = "") -> None:
        """Start a transaction (`mode` "IMMEDIATE" takes the write lock now). Called from SQLAlchemy's
        `begin` event, where a statement through the engine would cost ten times the BEGIN itself."""
        self._conn.execute(f"BEGIN {mode}" if mode else "BEGIN")

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._conn.close()
            self._connection = None

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    def stop(self) -> None:
        if self._connection is not None:
            self._conn.close()
            self._connection = None


def creator(path: str) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine` opening `path` with a short busy wait."""

    async def connect() -> InLoopConnection:
        connection = sqlite3.connect(path, timeout=BUSY_WAIT_MS / 1000, check_same_thread=False)
        return InLoopConnection(connection)

    return connect
