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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import MetaData, Select, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

metadata = MetaData()

DEFAULT_SQLITE_PATH = Path("var") / "frontdesk.sqlite3"
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
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict = {"echo": echo, "json_deserializer": loads_json}
        if self.is_sqlite:
            db_path = parsed.database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._writers: asyncio.Lock | None = None
        self._writers_loop: asyncio.AbstractEventLoop | None = None
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
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn):  # pragma: no cover - exercised by every test
            if conn.get_execution_options().get("frontdesk_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

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
        loop = asyncio.get_running_loop()
        if self._writers is None or self._writers_loop is not loop:
            self._writers, self._writers_loop = asyncio.Lock(), loop
        return self._writers

    def for_update(self, stmt: Select) -> Select:
        """Lock the selected rows until commit (SQLite already serialises writers)."""
        return stmt if self.is_sqlite else stmt.with_for_update()

    async def dispose(self) -> None:
        await self.engine.dispose()
