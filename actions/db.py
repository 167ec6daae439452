"""The database every system of record lives in: one SQLite file by default, PostgreSQL by URL.

Each system declares its own tables on the shared `metadata`. Writers get a transaction that
serialises against other writers (SQLite `BEGIN IMMEDIATE`, row locks on PostgreSQL), so a
read-check-write inside one transaction cannot interleave with another writer. On SQLite the
writers of one process also queue on an asyncio lock, first come first served: SQLite has one
writer at a time anyway, and its busy handler (polling with growing sleeps) would otherwise let
an unlucky writer wait seconds behind later ones. Writers in other processes still meet the
busy timeout.
"""

from __future__ import annotations

import asyncio
import json
import json.scanner
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import MetaData, Select, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from actions import sqlite_inloop

metadata = MetaData()
log = logging.getLogger(__name__)

DEFAULT_SQLITE_PATH = Path("var") / "frontdesk.sqlite3"
_WRITER_QUEUES: dict[tuple[str, int], asyncio.Lock] = {}
SQLITE_BUSY_TIMEOUT_S = 30


def normalise_url(url: str | None) -> str:
    """Accept plain `sqlite:///`, `postgresql://` or a path, and pick the driver: sqlite3 (run on the
    loop, see `actions.sqlite_inloop`) or asyncpg."""
    if not url:
        url = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    if "://" not in url:
        url = f"sqlite:///{url}"
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername != "sqlite+pysqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    elif backend in ("postgresql", "postgres") and parsed.drivername != "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://...")
    return parsed.render_as_string(hide_password=False)


_scan_json = json.scanner.make_scanner(json.JSONDecoder())


def loads_json(text: str | bytes) -> object:
    """`json.loads` for the documents this database stores, twice as fast on the short documents
    a store export reads by the thousand: the C scanner straight away, falling back to
    `json.loads` for anything it does not take whole (leading space, bytes, trailing text)."""
    if isinstance(text, str):
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:
            return json.loads(text)
        if end == len(text):
            return value
    return json.loads(text)


class Database:
    """An engine plus the two kinds of transaction the systems use, `read()` and `write()`.

    Both yield an `AsyncConnection` on PostgreSQL; on SQLite, a `LoopConnection` offering the same
    `await execute(...)` over a synchronous engine run on the loop (see `actions.sqlite_inloop`).
    """

    def __init__(self, url: str | None = None, *, echo: bool = False):
        self._batches: weakref.WeakSet[BatchedInserts] = weakref.WeakSet()
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._pg: AsyncEngine | None = None
        self._sqlite: Engine | None = None
        if self.is_sqlite:
            on_file = parsed.database not in (None, "", ":memory:")
            if on_file:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self._sqlite = create_engine(
                parsed,
                creator=sqlite_inloop.creator(parsed.database if on_file else ":memory:"),
                echo=echo,
                json_deserializer=loads_json,
                # Every transaction here ends in an explicit COMMIT or ROLLBACK: the pool's own
                # rollback on check-in would be a wasted call.
                pool_reset_on_return=None,
                # A checkout must never wait: it would block the event loop that returns connections.
                **({"pool_size": 10, "max_overflow": -1} if on_file else {}),
            )
            self._write_engine = self._sqlite.execution_options(frontdesk_write=True)
            self._install_sqlite_hooks(self._sqlite)
        else:
            self._pg = create_async_engine(
                self.url, echo=echo, json_deserializer=loads_json, pool_size=10, max_overflow=20, pool_pre_ping=True
            )
        self._file_key = str(Path(parsed.database).resolve()) if self.is_sqlite and parsed.database else self.url

    @property
    def sqlite_engine(self) -> Engine:
        """The synchronous engine under a SQLite database (for event hooks); an error on PostgreSQL."""
        if self._sqlite is None:
            raise TypeError(f"{self.url} is not a SQLite database")
        return self._sqlite

    @staticmethod
    def _install_sqlite_hooks(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
            # Take BEGIN out of the driver's hands so writers can ask for IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={sqlite_inloop.BUSY_WAIT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # pragma: no cover - exercised by every test
            # A writer's BEGIN IMMEDIATE was issued already, with its wait for other processes.
            if not conn.get_execution_options().get("frontdesk_write"):
                conn.connection.driver_connection.execute("BEGIN")

    async def create_all(self) -> None:
        # Importing the systems registers their tables on `metadata`.
        from actions import systems  # noqa: F401

        async with self.write() as conn:
            await conn.run_sync(metadata.create_all)

    async def drop_all(self) -> None:
        from actions import systems  # noqa: F401

        async with self.write() as conn:
            await conn.run_sync(metadata.drop_all)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite is not None:
            with self._sqlite.connect() as conn, conn.begin():
                yield sqlite_inloop.LoopConnection(conn)  # type: ignore[misc]
            return
        async with self._pg.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite is None:
            async with self._pg.connect() as conn:
                conn = await conn.execution_options(frontdesk_write=True)
                async with conn.begin():
                    yield conn
            return
        lock = self._writer_queue()
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_S):
            await lock.acquire()
        try:
            with self._write_engine.connect() as conn:
                # Another process may hold the write lock: wait for it on the event loop, not in SQLite.
                await sqlite_inloop.begin_immediate(conn, SQLITE_BUSY_TIMEOUT_S)
                with conn.begin():
                    yield sqlite_inloop.LoopConnection(conn)  # type: ignore[misc]
        finally:
            lock.release()

    def _writer_queue(self) -> asyncio.Lock:
        # One queue per database file and event loop, shared by every Database object on that file:
        # two back offices on one file in one process must not wait for each other inside SQLite.
        loop = asyncio.get_running_loop()
        key = (self._file_key, id(loop))
        lock = _WRITER_QUEUES.get(key)
        if lock is None:
            lock = _WRITER_QUEUES[key] = asyncio.Lock()
        return lock

    def for_update(self, stmt: Select) -> Select:
        """Lock the selected rows until commit (SQLite already serialises writers)."""
        return stmt if self.is_sqlite else stmt.with_for_update()

    async def dispose(self) -> None:
        # Rows still batched in memory belong to this database: write them before the pool goes.
        for batch in list(self._batches):
            await batch.close()
        if self._sqlite is not None:
            self._sqlite.dispose()
        else:
            await self._pg.dispose()


class BatchedInserts:
    """Rows of one table written a batch per transaction in the background.

    For records nobody waits on (read audits, dialogue trajectories): batching keeps them complete
    without a serialised write per row. `flush()` writes what is pending (queries call it first),
    and `close()` flushes what is left.
    """

    def __init__(self, db: Database, table, *, interval_s: float = 0.05, max_pending: int = 50_000):
        self.db = db
        self.table = table
        self._insert = table.insert()
        self.interval_s = interval_s
        self.max_pending = max_pending
        self._pending: list[dict] = []
        self._task: asyncio.Task | None = None
        self._lock: asyncio.Lock | None = None
        db._batches.add(self)

    def add(self, *rows: dict) -> None:
        if len(self._pending) + len(rows) > self.max_pending:
            # The database has been failing for a long while: keep the newest rows.
            self._pending = self._pending[-self.max_pending // 2 :]
            log.error("%s: batch buffer overflow, older rows dropped", self.table.name)
        self._pending.extend(rows)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.interval_s)
        await self.flush()

    async def flush(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                async with self.db.write() as conn:
                    await conn.execute(self._insert, batch)
            except Exception:
                self._pending = batch + self._pending
                log.exception("%s: batch write failed; will retry", self.table.name)

    async def close(self) -> None:
        # Never cancel a flush in flight: a transaction cancelled half-way can keep SQLite's write lock.
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        await self.flush()
