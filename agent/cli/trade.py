"""`agent trade swap`: one swap intent through the whole pipeline (gate, route, sign, Safe)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from agent.cli.common import console, parse_address, parse_decimal, run, run_async
from agent.errors import ValidationError
from agent.model import Side, SwapIntent

err_console = Console(stderr=True)

app = typer.Typer(help="Execute trading intents.", no_args_is_help=True)


def parse_intent(
    client_id: str, side: str, base: str, quote: str, size: str, slippage_bps: int
) -> SwapIntent:
    try:
        s = Side(side.lower())
    except ValueError:
        raise ValidationError(
            "--side", f"{side!r} is not buy or sell", "pass --side buy|sell"
        ) from None
    qty = parse_decimal("--size", size, "1.5")
    return SwapIntent(client_id, s, base.upper(), quote.upper(), qty, slippage_bps)


SIMULATION_MODES = ("trace", "fallback", "call", "off")


def parse_simulation(value: str) -> str | None:
    """``--simulation`` as build_swap_app takes it (None = off)."""
    v = value.strip().lower()
    if v not in SIMULATION_MODES:
        raise ValidationError(
            "--simulation", f"{value!r} is not a mode", "pass trace, fallback, call or off"
        )
    return None if v == "off" else v


def threshold_signer(kind: str, share: Path | None, peer: str, password_env: str):  # type: ignore[no-untyped-def]
    """None for ``--signer local``; for ``threshold`` the ThresholdSigner over party 1's
    share and party 2's address (the share file is read and checked here, before any
    connection: a wrong password or a damaged file is refused without signing)."""
    k = kind.strip().lower()
    if k == "local":
        return None
    if k != "threshold":
        raise ValidationError("--signer", f"{kind!r} is not a signer", "pass local or threshold")
    if share is None:
        raise ValidationError(
            "--share",
            "missing for --signer threshold",
            "pass party 1's share file (or set AGENT_THRESHOLD_SHARE)",
        )
    if not peer:
        raise ValidationError(
            "--peer", "missing for --signer threshold",
            "pass host:port of `agent signer serve` (or set AGENT_THRESHOLD_PEER)",
        )  # fmt: skip
    from agent.cli.signer import _hostport, _password
    from agent.signing.threshold import ThresholdSigner

    _hostport(peer, "--peer")
    return ThresholdSigner.from_files(share, peer, password=_password(password_env))


# the threshold signer's options, one definition for every command that signs (trade swap,
# trade order)
SHARE_OPTION = typer.Option(
    None, "--share", envvar="AGENT_THRESHOLD_SHARE", help="Threshold: party 1's share file."
)
PEER_OPTION = typer.Option(
    "",
    "--peer",
    envvar="AGENT_THRESHOLD_PEER",
    help="Threshold: host:port of `agent signer serve`.",
)
PASSWORD_ENV_OPTION = typer.Option(
    "", "--password-env", help="Threshold: env var holding the share file's password."
)


@app.command()
def swap(
    side: str = typer.Option(..., "--side", help="buy or sell (the base asset)."),
    base: str = typer.Option(..., "--base", help="Asset bought or sold, e.g. WETH."),
    quote: str = typer.Option(..., "--quote", help="Asset paid or received, e.g. USDC."),
    size: str = typer.Option(..., "--size", help="Amount of the base asset (human units)."),
    slippage_bps: int = typer.Option(
        30, "--slippage-bps", help="Max slippage vs the quote, 0..10000."
    ),
    client_id: str = typer.Option(
        ..., "--client-id", help="Idempotency key: resubmits never execute twice."
    ),
    rpc_url: str | None = typer.Option(
        None,
        "--rpc-url",
        help="JSON-RPC URL of the chain the Safe is on, e.g. http://127.0.0.1:8545.",
    ),
    manifest: Path | None = typer.Option(
        None,
        "--manifest",
        help="Deployment manifest of that chain (tokens, venues, oracles), e.g. the "
        "l1.manifest.json `agent devnet up` writes.",
    ),
    safe: str | None = typer.Option(
        None, "--safe", help="The fund's Safe (0x address) that trades and holds the assets."
    ),
    module: str | None = typer.Option(
        None,
        "--module",
        help="The Safe's PolicyModule (0x address): the operator key calls it; checked to be "
        "this Safe's, enabled, with a role for the operator, before anything is signed.",
    ),
    key_env: str = typer.Option(
        "AGENT_OPERATOR_KEY", "--key-env", help="Env var with the operator key."
    ),
    journal: Path = typer.Option(
        Path(".state/journal.sqlite"),
        "--journal",
        help="The agent's journal (verified before trading; refused if tampered).",
    ),
    max_notional: str = typer.Option("1000000", "--max-notional", help="Limit in the quote asset."),
    policy: Path | None = typer.Option(
        None, "--policy", help="The fund's signing-policy file, checked before signing."
    ),
    api: str | None = typer.Option(
        None,
        "--api",
        help="Send it to a running daemon (its URL) instead: its chain, Safe, "
        "journal, limits and policy apply; --rpc-url/--manifest/--safe/--module are not used.",
    ),
    token_env: str = typer.Option(
        "AGENT_API_TOKEN_TRADE", "--token-env", help="Env var with a trade API token (with --api)."
    ),
    signer: str = typer.Option(
        "local",
        "--signer",
        help="local (the --key-env key) or threshold (two-party ECDSA: --share and --peer).",
    ),
    share: Path | None = SHARE_OPTION,
    peer: str = PEER_OPTION,
    password_env: str = PASSWORD_ENV_OPTION,
    simulation: str = typer.Option(
        "trace",
        "--simulation",
        help="Simulate the exact call before signing: trace (debug_traceCall; refused on a node "
        "without tracing), fallback (eth_call with a warning on such a node), call (eth_call "
        "only) or off.",
    ),
) -> None:
    """Buy or sell on the best Uniswap venue through the Safe's module."""
    from agent.bootstrap import build_swap_app
    from agent.demo.report import swap_table
    from agent.deploy.manifest import Manifest
    from agent.execution.swap import validate_intent

    intent = run(lambda: parse_intent(client_id, side, base, quote, size, slippage_bps))
    if api is not None:
        _swap_via_api(api, token_env, intent)
        return
    for flag, given in (("--rpc-url", rpc_url), ("--manifest", manifest), ("--safe", safe),
                        ("--module", module)):  # fmt: skip
        if given is None:
            run(lambda f=flag: _raise(ValidationError(f, "is required", f"pass {f} or --api URL")))
    safe = run(lambda: parse_address("--safe", safe))
    module = run(lambda: parse_address("--module", module))
    limit = run(lambda: parse_decimal("--max-notional", max_notional, "250000"))
    m = run(lambda: Manifest.load(manifest))
    run(lambda: validate_intent(m, intent))  # tokens known, size fits them
    if policy is None:
        err_console.print(
            "warning: no --policy: no off-chain signing policy is checked before signing "
            "(only the Safe module's on-chain configuration applies)"
        )
    sim_mode = run(lambda: parse_simulation(simulation))
    if sim_mode == "call":
        err_console.print(
            "warning: --simulation call: eth_call only, the Safe's asset deltas are not checked"
        )
    remote = run(lambda: threshold_signer(signer, share, peer, password_env))
    key = ""
    if remote is None:
        key = os.environ.get(key_env, "")
        if not key:
            run(
                lambda: (_ for _ in ()).throw(
                    ValidationError("--key-env", f"{key_env} is not set", f"export {key_env}=0x...")
                )
            )

    async def go():  # type: ignore[no-untyped-def]
        try:
            app_ = await build_swap_app(
                rpc_url=rpc_url, manifest=m, safe=safe, module=module, operator_key=key,  # type: ignore[arg-type]
                journal_path=journal, max_notional=limit, policy_path=policy, signer=remote,
                simulation=sim_mode,
            )  # fmt: skip
            try:
                return await app_.pipeline.run(intent)
            finally:
                await app_.close()
        finally:
            if remote is not None:
                await remote.aclose()

    report = run_async(go)
    console.print(swap_table(report))
    console.print(f"order {report.client_order_id}: {report.state or report.status}")
    if "denied" in (report.status, report.state):  # a resubmitted denied order too
        err_console.print(
            f"denied: [{report.code}] {report.reason}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(3)


def _raise(e: Exception) -> None:
    raise e


def _until_done(api: str, token_env: str, location: str, timeout_s: float = 300) -> Any:
    """GET the accepted order until it is terminal (or the timeout: its last state)."""
    import time

    from agent.service.client import call

    deadline = time.monotonic() + timeout_s
    while True:
        got = call(api, "GET", location, token_env=token_env)
        if got["state"] in ("filled", "cancelled", "denied", "expired", "rejected"):
            return got
        if time.monotonic() > deadline:
            return got
        time.sleep(0.05)  # polling the daemon for the order's end


def _swap_via_api(api: str, token_env: str, intent: SwapIntent) -> None:
    """POST /v1/orders; the daemon's answer printed as one line; exit 3 on a denial."""
    from agent.service.client import ApiCallError, call

    body = {
        "client_order_id": intent.client_id, "side": intent.side.value, "base": intent.base,
        "quote": intent.quote, "size": str(intent.size),
        "max_slippage_bps": intent.max_slippage_bps,
    }  # fmt: skip

    def post() -> tuple[Any, ApiCallError | None]:
        try:
            return call(api, "POST", "/v1/orders", body, token_env=token_env), None
        except ApiCallError as e:
            if e.status != 422:  # not an answer about the order: run() makes it one line
                raise
            return None, e  # refused by the trading state, the risk gate or the policy

    out, denied = run(post)
    if denied is not None:
        err_console.print(f"denied: [{denied.code}] {denied}", highlight=False, soft_wrap=True)
        raise typer.Exit(3)
    if out.get("location"):  # accepted: the daemon routes and executes it behind the answer
        out = run(lambda: _until_done(api, token_env, out["location"]))
    tx = f", tx {out['tx_hash']}" if out.get("tx_hash") else ""
    chain = f" ({out['chain']})" if out.get("chain") else ""
    console.print(
        f"order {out['client_order_id']}: {out.get('state') or out['status']} on "
        f"{out.get('venue') or '-'}{chain}{tx}", highlight=False, soft_wrap=True,
    )  # fmt: skip
    if "denied" in (out.get("status"), out.get("state")):
        err_console.print(
            f"denied: [{out.get('code')}] {out.get('reason')}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(3)


from agent.cli.order import order as _order  # noqa: E402  (`agent trade order`)

app.command(name="order")(_order)
