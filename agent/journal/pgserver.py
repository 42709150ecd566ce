"""A throwaway PostgreSQL server in a temporary directory (initdb + pg_ctl), for tests,
benchmarks and local trials of the PostgreSQL journal: what agent/chain/devnet.py is for
anvil. Production points the journal at a managed server instead.

The binaries come from ``pg_config --bindir`` or Debian's /usr/lib/postgresql/<major>/bin
(``scripts/setup`` installs the ``postgresql`` package). PostgreSQL refuses to run as root,
so under root the server runs as the ``postgres`` user (which the package creates).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from agent.errors import AgentError


class PgServerError(AgentError):
    code = "PG_SERVER"


def find_bindir() -> Path:
    """Where initdb and pg_ctl are, or a PgServerError saying how to install them."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(out.stdout.strip())
    # newest major first
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for c in candidates:
        if (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise PgServerError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/setup "
        "(or apt-get install postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """``with PgServer() as pg: PostgresJournal(pg.dsn)``. ``restart()`` drops every
    connection (what a failover or a server crash does to the agent)."""

    def __init__(self, *, fsync: bool = True, user: str = "agent") -> None:
        self.bindir = find_bindir()
        self.user = user
        self.port = _free_port()
        # not under pytest's per-user temp root (mode 0700): the server user must enter it
        self.root = Path(tempfile.mkdtemp(prefix="agent-pg-", dir=os.environ.get("TMPDIR", "/tmp")))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        opts = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "on" if fsync else "off",
            "synchronous_commit": "on",
            "max_connections": "60",
            "shared_buffers": "64MB",
        }
        with open(self.data / "postgresql.conf", "a") as f:
            f.writelines(f"{k} = '{v}'\n" for k, v in opts.items())
        self.start()

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"

    def _run(self, tool: str, *args: str) -> None:
        r = subprocess.run(
            [*self._as, str(self.bindir / tool), *args], capture_output=True, text=True
        )
        if r.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise PgServerError(f"{tool} failed: {r.stderr.strip() or r.stdout.strip()} {tail}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop (``immediate`` = as if the server crashed) and start again, same port."""
        self.stop(mode)
        self.start()

    def close(self) -> None:
        with contextlib.suppress(PgServerError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
