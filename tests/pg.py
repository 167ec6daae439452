"""A throwaway local PostgreSQL server for tests and benchmarks.

`fresh_database()` starts one server per interpreter on first use (initdb into a temporary
directory, a free port on 127.0.0.1, unix sockets inside that directory), creates a new
database on every call (empty, or a copy of a template database) and returns its URL. The
server is stopped and its directory removed when the interpreter exits. The server binaries
come from Debian's `postgresql` package; as root the server runs as the `postgres` user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

_lock = threading.Lock()
_server: _Server | None = None


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    """The newest installed server's bin directory (any version)."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresUnavailable("PostgreSQL server binaries not found: apt-get install -y postgresql")


def _scratch() -> str | None:
    """Memory-backed storage when there is some: creating a database there is several times faster."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 1 << 30:
        return str(shm)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="frontdesk-pg-", dir=_scratch()))
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root and there is no postgres user to run the server") from exc
            self._as = ["runuser", "-u", "postgres", "--"]
            self.sockets.mkdir()
            for path in (self.root, self.sockets):
                os.chown(path, account.pw_uid, account.pw_gid)
        else:
            self.sockets.mkdir()

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *args], capture_output=True, text=True, check=check, cwd=self.root)

    def start(self) -> None:
        try:
            self._run(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(self.root, ignore_errors=True)
            raise PostgresUnavailable(f"initdb failed: {exc.stderr.strip()}") from exc
        # A test server: durability off, enough connections for concurrency tests and benchmarks.
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            shutil.rmtree(self.root, ignore_errors=True)
            raise PostgresUnavailable(f"pg_ctl start failed: {exc.stderr.strip()}\n{log}") from exc
        atexit.register(self.stop)

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, template: str | None = None) -> str:
        name = "fd_" + uuid.uuid4().hex[:16]
        createdb = self.bin / "createdb"
        if not createdb.exists():
            createdb = Path(shutil.which("createdb") or "createdb")
        copy = ["-T", template] if template else []
        try:
            self._run(str(createdb), "-h", str(self.sockets), "-p", str(self.port), "-U", self.user, *copy, name)
        except subprocess.CalledProcessError as exc:
            raise PostgresUnavailable(f"createdb failed: {exc.stderr.strip()}") from exc
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"


def server() -> _Server:
    global _server
    with _lock:
        if _server is None:
            srv = _Server()
            srv.start()
            _server = srv
        return _server


def fresh_database(template: str | None = None) -> str:
    """A new database on the throwaway server, as a `postgresql://` URL: empty, or a copy of the
    database `template` (a name or a URL from this function) when nobody is connected to it."""
    if template and "/" in template:
        template = template.rsplit("/", 1)[1]
    return server().create_database(template)
