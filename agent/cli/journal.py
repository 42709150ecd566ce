"""`agent journal verify|replay|tail`: check, rebuild and read the event journal."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import typer

from agent.cli.common import console, run
from agent.errors import JournalTamperedError, ValidationError
from agent.journal.stores import is_postgres, open_store

app = typer.Typer(help="The append-only, hash-chained event journal.", no_args_is_help=True)

DEFAULT_JOURNAL = ".state/journal.sqlite"
JournalOpt = typer.Option(
    None,
    "--journal",
    "-j",
    help=f"Journal file or postgresql://user@host/db#schema [env AGENT_JOURNAL; default {DEFAULT_JOURNAL}]",
)


def journal_path(path: Path | None, *, must_exist: bool = True) -> Path:
    p = Path(path or os.environ.get("AGENT_JOURNAL") or DEFAULT_JOURNAL)
    if is_postgres(p):  # a PostgreSQL URL: nothing on disk to check
        return p
    if must_exist and not p.is_file():
        raise ValidationError(
            "--journal", f"{p} does not exist", "pass --journal PATH or set AGENT_JOURNAL"
        )
    if not must_exist:
        p.parent.mkdir(parents=True, exist_ok=True)
    return p


def open_journal(path: Path | None, *, must_exist: bool = True):  # -> Store
    """The SQLite file, or the PostgreSQL journal for ``postgresql://user@host/db#schema``."""
    import agent.oms  # noqa: F401  (registers the OMS event types)

    loc = journal_path(path, must_exist=must_exist)
    if is_postgres(loc):
        return open_store(loc)
    # an existing file only read (orders, replay, tail) is opened read-only: nothing is
    # written into it, and a file that is not a journal is refused (NOT_A_JOURNAL)
    return open_store(loc, read_only=must_exist)


@app.command()
def verify(
    journal: Path | None = JournalOpt,
    key_env: str | None = typer.Option(
        None,
        "--key-env",
        help="Env var with the operator key: also check the checkpoint's MAC (a moved or "
        "forged checkpoint, a journal replaced by another).",
    ),
) -> None:
    """Walk the hash chain; name the first edited, deleted or reordered record.

    Read-only: nothing is written to the file, and a file that is not an agent journal is
    refused (NOT_A_JOURNAL)."""
    import agent.oms  # noqa: F401  (registers the OMS event types)
    from agent.journal import SqliteJournal

    def go() -> None:
        secret = None
        if key_env:
            from agent.signing.local import _parse_key

            if not os.environ.get(key_env):
                raise ValidationError(
                    "--key-env", f"{key_env} is not set", f"export {key_env}=0x..."
                )
            secret = _parse_key("--key-env", os.environ[key_env])
        path = journal_path(journal)
        if is_postgres(path):  # no checkpoint there yet: the full walk
            with open_store(path) as j:
                rep = j.verify()
        else:
            with SqliteJournal(path, read_only=True, checkpoint_secret=secret) as j:
                rep = j.verify()
                if rep.ok and secret is not None:
                    rep = j.verify_incremental()  # the MACs; read-only: the checkpoint stays
        if not rep.ok:
            raise JournalTamperedError(rep.describe())
        console.print(rep.describe(), highlight=False, soft_wrap=True)

    run(go)


@app.command()
def replay(
    journal: Path | None = JournalOpt,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Rebuild all state from the journal and print its state hash."""
    from agent.oms import OrderStore

    def go() -> None:
        with open_journal(journal) as j:
            t0 = time.perf_counter()
            store = OrderStore.replay(j)
            dt = time.perf_counter() - t0
        out = {
            "events": store.events_applied,
            "position": store.position,
            "state_hash": store.state_hash(),
            "orders": len(store.orders),
            "open_orders": len(store.open_orders()),
            "transactions": len(store.txs),
            "trading_state": store.trading_state.value,
            "seconds": round(dt, 4),
        }
        if as_json:
            print(json.dumps(out))
        else:
            for k, v in out.items():
                console.print(f"{k:14} {v}", highlight=False)

    run(go)


@app.command()
def tail(
    journal: Path | None = JournalOpt,
    n: int = typer.Option(20, "-n", min=1, help="How many records."),
    stream: str | None = typer.Option(None, "--stream", help="Only this stream."),
) -> None:
    """Print the last N records (position, stream@version, type, data)."""

    def go() -> None:
        with open_journal(journal) as j:
            if stream:
                recs = list(j.read_stream(stream, decode=False))[-n:]
            else:
                last = j.head()[0]
                recs = list(j.read_all(max(1, last - n + 1), decode=False))
        for r in recs:
            console.print(
                f"#{r.position} {r.stream}@{r.version} {r.type} {r.data}",
                highlight=False,
                soft_wrap=True,
            )

    run(go)
