"""Every journal test runs on both stores: ``backend`` opens (and re-opens) a journal by
name on SQLite (a file) or PostgreSQL (a schema of its own on the session's server), and
tampers with one through the database's own SQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.journal import SqliteJournal
from agent.journal.postgres import PostgresJournal


class Backend:
    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self._tmp = tmp_path
        self._req = request
        self._tag = uuid.uuid4().hex[:10]

    def open(self, name: str = "j", **kw: Any) -> Any:
        if self.kind == "sqlite":
            return SqliteJournal(self._tmp / f"{name}.sqlite", **kw)
        kw.pop("inline_min", None)  # SQLite's in-place commit knob: PostgreSQL has none
        pg = self._req.getfixturevalue("pg_server")
        return PostgresJournal(pg.dsn, schema=f"t_{self._tag}_{name}", **kw)

    def tamper(self, name: str, *statements: str, args: tuple[Any, ...] = ()) -> None:
        """Run SQL on the journal's tables as an attacker with database access would."""
        if self.kind == "sqlite":
            import sqlite3

            c = sqlite3.connect(self._tmp / f"{name}.sqlite")
            for s in statements:
                c.execute(s, args if "?" in s else ())
            c.commit()
            c.close()
            return
        import psycopg

        pg = self._req.getfixturevalue("pg_server")
        with psycopg.connect(pg.dsn) as c:
            c.execute(f"SET search_path = t_{self._tag}_{name}")
            for s in statements:
                c.execute(s.replace("?", "%s"), args if "?" in s else ())

    def drop_head(self, name: str) -> None:
        """Remove the recorded head (what an attacker who also rewrites it achieves)."""
        if self.kind == "sqlite":
            self.tamper(name, "DELETE FROM meta WHERE key = 'head'")
        else:
            self.tamper(
                name,
                "UPDATE journal_head SET position = (SELECT MAX(position) FROM events), "
                "hash = (SELECT hash FROM events ORDER BY position DESC LIMIT 1)",
            )


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(request.param, tmp_path, request)


OpenJournal = Callable[..., Any]
