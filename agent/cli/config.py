"""`agent config init|validate`: the daemon's one configuration file (agent.toml)."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import console, fail, run

app = typer.Typer(help="The daemon's configuration file (agent.toml).", no_args_is_help=True)


@app.command()
def init(
    path: Path = typer.Argument(Path("agent.toml"), help="Where to write the example."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented example agent.toml (every field, with its default)."""
    from agent.service.example import render

    if path.exists() and not force:
        fail(f"{path}: exists; pass --force to overwrite")
    path.write_text(render())
    console.print(f"wrote {path}; edit it, then `agent config validate {path}`", soft_wrap=True)


@app.command()
def validate(path: Path = typer.Argument(..., help="The agent.toml to check.")) -> None:
    """Check a config file offline: syntax, fields, types, references between tables.
    Errors name the file, the line and the field (exit 2)."""
    from agent.service.config import load

    cfg = run(lambda: load(path))
    console.print(
        f"{path}: ok ({len(cfg.chains)} chains, {len(cfg.wallets)} wallets, "
        f"{len(cfg.venues)} venues, {len(cfg.api.tokens)} API tokens)",
        soft_wrap=True,
    )
