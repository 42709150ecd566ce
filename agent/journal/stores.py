"""Open a journal from where it lives: a file path (SQLite) or a PostgreSQL URL.

``postgresql://user@host:5432/dbname#schema`` opens the PostgreSQL journal in ``schema``
(default ``agent_journal``); anything else is a SQLite file. This is what ``--journal`` and
``AGENT_JOURNAL`` accept, so every command works on either store.
"""

from __future__ import annotations

import os
import re
from typing import Any

_PG = re.compile(r"^(postgres(?:ql)?):/*")


def is_postgres(location: str | os.PathLike[str]) -> bool:
    return bool(_PG.match(os.fspath(location)))


def postgres_location(location: str | os.PathLike[str]) -> tuple[str, str]:
    """(libpq URL, schema). A URL that went through ``pathlib.Path`` (as a CLI option does)
    lost one slash of ``//``; it is put back."""
    url = _PG.sub(lambda m: f"{m.group(1)}://", os.fspath(location), count=1)
    url, _, schema = url.partition("#")
    return url, schema or "agent_journal"


def open_store(location: str | os.PathLike[str], **kw: Any) -> Any:  # -> Store
    if is_postgres(location):
        from agent.journal.postgres import PostgresJournal

        url, schema = postgres_location(location)
        return PostgresJournal(url, schema=schema, **kw)
    from agent.journal.sqlite import SqliteJournal

    return SqliteJournal(location, **kw)
