"""`agent` console script: one Typer sub-app per command group, each in its own module.

Modules stay thin (parse, call, print). Errors from the agent's tree are printed as one line
with their stable code and exit non-zero; see ``agent.cli.common.run``.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="agent",
    help="On-chain-first, non-custodial execution agent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Command groups, registered explicitly (one line each).
from agent.cli import devnet as _devnet  # noqa: E402

app.add_typer(_devnet.app, name="devnet")

from agent.cli import wallet as _wallet  # noqa: E402

app.add_typer(_wallet.app, name="wallet")

from agent.cli import trade as _trade  # noqa: E402

app.add_typer(_trade.app, name="trade")

from agent.cli import journal as _journal  # noqa: E402
from agent.cli import orders as _orders  # noqa: E402
from agent.cli import trading as _trading  # noqa: E402

app.add_typer(_journal.app, name="journal")
app.add_typer(_orders.app, name="orders")
_trading.register(app)  # `agent halt`, `agent resume`
from agent.cli import exchange_sim as _exchange_sim  # noqa: E402

app.add_typer(_exchange_sim.app, name="exchange-sim")

from agent.cli import bridge as _bridge  # noqa: E402

app.add_typer(_bridge.app, name="bridge")

from agent.cli import risk as _risk  # noqa: E402

app.add_typer(_risk.app, name="risk")

from agent.cli import policy as _policy  # noqa: E402

app.add_typer(_policy.app, name="policy")

from agent.cli import config as _config  # noqa: E402

app.add_typer(_config.app, name="config")

from agent.cli import run as _run  # noqa: E402

_run.register(app)  # `agent run --config agent.toml`

from agent.cli import signer as _signer  # noqa: E402

app.add_typer(_signer.app, name="signer")

from agent.cli import fix as _fix  # noqa: E402

app.add_typer(_fix.app, name="fix")
from agent.cli import route as _route  # noqa: E402

app.command(name="route")(_route.route)

from agent.cli import report as _report  # noqa: E402

app.add_typer(_report.app, name="report")  # `agent report execution ORDER`
from agent.cli import cosigner as _cosigner  # noqa: E402

app.add_typer(_cosigner.app, name="cosigner")
