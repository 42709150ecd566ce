"""`agent bridge estimate|relayer`: fee and time of a bridge hop; run the relayer."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from agent.cli.common import console, fail, run

app = typer.Typer(help="The L1 -> L2 bridge: estimates and the relayer.", no_args_is_help=True)
StateDir = typer.Option(
    Path(".state/devnet"), "--state-dir", help="Where `agent devnet up` wrote manifests."
)


@app.command()
def estimate(
    amount: str = typer.Argument(..., help="Gross amount leaving L1, e.g. 250000"),
    symbol: str = typer.Option("USDC", "--symbol"),
    state_dir: Path = StateDir,
) -> None:
    """Fee, amount received and expected time of bridging AMOUNT of SYMBOL from L1 to L2."""
    from agent.bridge.abi import escrow_abi
    from agent.deploy.manifest import Manifest
    from agent.model import from_base_units, to_base_units
    from agent.venues.bridge.cost import BridgeCostModel

    try:
        size = Decimal(amount)
    except InvalidOperation:
        fail(f"amount: {amount!r} is not a number; e.g. 250000")
    l1 = run(lambda: Manifest.load(state_dir / "l1.manifest.json"))
    token = run(lambda: l1.token(symbol))
    units = run(lambda: to_base_units(size, token.decimals))
    escrow = run(lambda: l1.address("BridgeEscrow"))
    pidfile = state_dir / "devnets.json"
    if not pidfile.exists():
        fail(f"--state-dir: {pidfile} does not exist; run `agent devnet up` first")
    devnets = json.loads(pidfile.read_text())
    from agent.chain.devnet import rpc_call

    abi = escrow_abi()
    raw = run(
        lambda: rpc_call(
            devnets["l1"]["rpc_url"], "eth_call",
            [{"to": escrow, "data": "0x" + abi.encode("feeBps").hex()}, "latest"],
        )
    )  # fmt: skip
    model = BridgeCostModel(fee_bps=int(abi.decode_output("feeBps", raw)))
    est = run(lambda: model.estimate(units))
    console.print(
        f"{size:f} {token.symbol}: fee {from_base_units(est.fee, token.decimals):f} "
        f"({est.fee_bps} bps), received {from_base_units(est.amount_out, token.decimals):f}, "
        f"~{est.eta_seconds}s, {est.gas_units} gas on L1"
    )


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def relayer(ctx: typer.Context) -> None:
    """Run the relayer (same options as `python -m agent.bridge.service --help`; keys in
    AGENT_BRIDGE_RELAYER_KEYS and AGENT_BRIDGE_SUBMITTER_KEY)."""
    from agent.bridge.service import main

    raise typer.Exit(main(list(ctx.args)))
