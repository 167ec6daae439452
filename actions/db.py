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
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import MetaData, Select, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import await_

from actions import sqlite_inloop

metadata = MetaData()
log = logging.getLogger(__name__)

DEFAULT_SQLITE_PATH = Path("var") / "frontdesk.sqlite3"
_WRITER_QUEUES: dict[tuple[str, int], asyncio.Lock] = {}
SQLITE_BUSY_TIMEOUT_S = 30


def normalise_url(url: str | None) -> str:
    """Accept plain `sqlite:///`, `postgresql://` or a path, and pick the async driver."""
    if not url:
        url = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    if "://" not in url:
        url = f"sqlite:///{url}"
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername != "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
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
    """An async engine plus the two kinds of transaction the systems use."""

    def __init__(self, url: str | None = None, *, echo: bool = False):
        self._batches: weakref.WeakSet[BatchedInserts] = weakref.WeakSet()
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict = {"echo": echo, "json_deserializer": loads_json}
        if self.is_sqlite:
            db_path = parsed.database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            # sqlite3 calls run on the event loop (see actions.sqlite_inloop): no thread round trips.
            kwargs["async_creator"] = sqlite_inloop.creator(db_path or ":memory:")
            # Every transaction here ends in an explicit COMMIT or ROLLBACK, so the pool's own
            # rollback on check-in is a wasted round trip to the driver's thread.
            kwargs["pool_reset_on_return"] = None
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._file_key = str(Path(parsed.database).resolve()) if self.is_sqlite and parsed.database else self.url
        if self.is_sqlite:
            self._install_sqlite_hooks()

    def _install_sqlite_hooks(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
            # Take BEGIN out of the driver's hands so writers can ask for IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={sqlite_inloop.BUSY_WAIT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn):  # pragma: no cover - exercised by every test
            driver: sqlite_inloop.InLoopConnection = conn.connection.driver_connection
            if not conn.get_execution_options().get("frontdesk_write"):
                driver.begin()
                return
            # Another process may hold the write lock: wait for it on the event loop, not in SQLite.
            deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
            pause = 0.005
            while True:
                try:
                    driver.begin("IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                        raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
                await_(asyncio.sleep(pause))
                pause = min(pause * 2, 0.1)

    async def create_all(self) -> None:
        # Importing the systems registers their tables on `metadata`.
        from actions import systems  # noqa: F401

        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def drop_all(self) -> None:
        from actions import systems  # noqa: F401

        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if not self.is_sqlite:
            async with self._write_transaction() as conn:
                yield conn
            return
        lock = self._writer_queue()
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_S):
            await lock.acquire()
        try:
            async with self._write_transaction() as conn:
                yield conn
        finally:
            lock.release()

    @asynccontextmanager
    async def _write_transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(frontdesk_write=True)
            async with conn.begin():
                yield conn

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
        await self.engine.dispose()


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
