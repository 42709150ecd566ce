"""`agent devnet up|status|down` (filled in by the Foundation work)."""

import typer

app = typer.Typer(help="Local L1/L2 anvil devnets.", no_args_is_help=True)
