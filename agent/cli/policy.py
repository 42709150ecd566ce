"""`agent policy init | validate FILE | apply FILE | explain FILE` (thin: parse, call, print)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import typer

from agent.cli.common import console, fail, run, run_async

app = typer.Typer(
    help="The signing policy: one document, enforced off-chain and by the Safe module.",
    no_args_is_help=True,
)

STATE = Path(".state/devnet")
ManifestOpt = typer.Option(
    STATE / "l1.manifest.json", "--manifest", help="Deployment manifest resolving names."
)
RpcOpt = typer.Option(
    None, "--rpc-url", help="Chain RPC (default: the L1 devnet of .state/devnet)."
)


def _rpc(rpc_url: str | None) -> str:
    if rpc_url:
        return rpc_url
    p = STATE / "devnets.json"
    if not p.exists():
        fail("--rpc-url: no devnet state in .state/devnet; pass --rpc-url or run `agent devnet up`")
    return json.loads(p.read_text())["l1"]["rpc_url"]


def _load(file: Path, manifest: Path):  # type: ignore[no-untyped-def]
    from agent.deploy.manifest import Manifest
    from agent.policy import load_policy

    return run(lambda: load_policy(file, Manifest.load(manifest)))


@app.command()
def init(
    path: Path = typer.Argument(Path("policy.toml")),
    safe: str = typer.Option(None, help="The Safe's address to write in."),
    operator: str = typer.Option(None, help="The agent key's address to write in."),
    force: bool = typer.Option(False, help="Overwrite an existing file."),
) -> None:
    """Write a commented example policy."""
    from agent.policy.onchain import REPO

    if path.exists() and not force:
        fail(f"{path}: exists; pass --force to overwrite")
    text = (REPO / "examples" / "policy.toml").read_text()
    if safe:
        text = text.replace("0x0000000000000000000000000000000000005afe", safe)
    if operator:
        text = text.replace("0x0000000000000000000000000000000000000a6e", operator)
    path.write_text(text)
    console.print(f"wrote {path}; edit it, then `agent policy validate {path}`")


@app.command()
def validate(
    file: Path,
    manifest: Path = typer.Option(
        None,
        "--manifest",
        help="Deployment manifest resolving names (default: .state/devnet/l1.manifest.json "
        "if it exists; without one only the syntax, types and unsafe grants are checked).",
    ),
) -> None:
    """Check a policy file: syntax, names, and the unsafe-grant refusals."""
    from agent.policy import compile_policy

    if manifest is None:
        default = STATE / "l1.manifest.json"
        if not default.is_file():
            from agent.policy.grants import check_document
            from agent.policy.schema import read_policy_file

            def syntax() -> str:
                doc, text = read_policy_file(file)
                check_document(doc, text, str(file))
                return doc.name

            name = run(syntax)
            console.print(
                f"[green]ok[/] {file}: policy {name!r}: syntax, types and unsafe grants "
                "checked; names NOT checked (no manifest: pass --manifest FILE)",
                highlight=False,
            )
            return
        manifest = default
    p = _load(file, manifest)
    cfg = compile_policy(p)
    console.print(
        f"[green]ok[/] {file}: policy {p.name!r} on chain {p.chain_id}, {len(p.roles)} role(s), {len(p.rules)} rule(s)"
    )
    for r in p.rules.values():
        where = (
            "off-chain only"
            if r.offchain_only or r.delegatecall
            else f"{len(r.conditions)} on-chain conditions"
        )
        console.print(f"  {r.label}: {r.sig.canonical} ({where})", highlight=False)
    vg = p.value_guard
    console.print(
        f"  on-chain: {len(cfg.scopes)} scopes, {len(cfg.sets)} sets, {len(cfg.allowances)} allowances, "
        f"{len(cfg.oracles)} oracles, value guard "
        + (
            f"{vg.max_loss_bps} bps per execution / {vg.budget_bps} bps per {vg.period}s"
            if vg
            else "off"
        )
        + "; off-chain only: screening, hours, chains, second signer, replays",
        highlight=False,
    )


@app.command()
def apply(
    file: Path,
    manifest: Path = ManifestOpt,
    rpc_url: str = RpcOpt,
    owner_key: list[str] = typer.Option(
        [], "--owner-key", help="An owner's key (dev); repeat for k-of-n."
    ),
    signature: list[str] = typer.Option(
        [], "--signature", help="OWNER:0xSIG from an owner who signed elsewhere."
    ),
    displayed_hash: str = typer.Option(
        None,
        "--displayed-hash",
        help="The Safe tx hash the signer was shown; refused if it differs.",
    ),
    sender_key: str = typer.Option(
        None, "--sender-key", help="Key paying for execTransaction (default: first owner key)."
    ),
    deploy: bool = typer.Option(
        False, "--deploy", help="Deploy a PolicyModule first when the file names none."
    ),
) -> None:
    """Read the module back, print the diff, build the Safe tx, collect signatures, execute."""
    from agent.deploy.transactor import Transactor
    from agent.policy.apply import deploy_module, execute, plan_apply, sign_as_owner

    url = _rpc(rpc_url)
    policy = _load(file, manifest)
    if policy.module is None:
        if not deploy:
            fail(
                f'{file}: module: the policy names no module; add module = "0x..." or pass --deploy'
            )
        key = sender_key or (owner_key[0] if owner_key else None)
        if not key:
            fail("--sender-key: needed to deploy the module")
        addr = run(lambda: deploy_module(Transactor(url, key), policy.safe, policy.multisend or ""))
        console.print(
            f'deployed PolicyModule at {addr}; add  module = "{addr}"  to {file} and run apply again'
        )
        return
    plan = run(lambda: plan_apply(policy, url))
    if plan.enable_module:
        console.print(f"+ enableModule({policy.module}) on the Safe")
    for c in plan.changes:
        console.print(f"{c.kind} {c.text}", highlight=False)
    if plan.safe_tx is None:
        console.print("[green]up to date[/]: the module already enforces this policy")
        return
    tx = plan.safe_tx
    console.print("Safe transaction (compare every field and the hash on your signing device):")
    for k, v in tx.describe().items():
        console.print(
            f"  {k:13} {v if k != 'data' else v[:74] + ('...' if len(v) > 74 else '')}",
            highlight=False,
        )
    shown = bytes.fromhex(displayed_hash.removeprefix("0x")) if displayed_hash else None
    sigs: dict[str, bytes] = {}
    for s in signature:
        owner, _, sig = s.partition(":")
        sigs[owner] = bytes.fromhex(sig.removeprefix("0x"))
    if tx.operation == 1:  # every inner call decoded by abis/, as `policy explain` shows them
        from agent.policy.explain import describe_calls
        from agent.wallet.multisend import decode_multisend_calldata

        inner = run(lambda: decode_multisend_calldata(tx.data))
        abis = {policy.module: "PolicyModule", policy.safe: "Safe"}
        for line in describe_calls(policy, inner, abis):
            console.print(
                f"  batch{line}" if line.startswith("[") else f"  {line}", highlight=False
            )
    for k in owner_key:
        # Each signer's hash is recomputed from the displayed fields, not reused from the plan.
        shown_tx = _from_fields(tx.describe(), tx)
        owner, sig = run(lambda k=k, t=shown_tx: sign_as_owner(t, k, shown))
        sigs[owner] = sig
        console.print(
            f"  signer {owner}: signs safe_tx_hash 0x{shown_tx.hash().hex()}; signature 0x{sig.hex()}"
        )
    from agent.policy.apply import safe_threshold

    need = run(lambda: safe_threshold(url, policy.safe))
    if len(sigs) < need:
        console.print(
            f"{len(sigs)} of {need} signatures; pass each owner's as --signature OWNER:0xSIG and run again"
        )
        raise typer.Exit(3)
    key = sender_key or owner_key[0] if (sender_key or owner_key) else None
    if key is None:
        fail("--sender-key: someone must pay for execTransaction")
    t0 = time.perf_counter()
    receipt = run(lambda: execute(Transactor(url, key), tx, sigs))
    console.print(
        f"[green]executed[/] {receipt.get('transactionHash')} in {time.perf_counter() - t0:.2f}s"
    )


def _from_fields(fields: dict[str, str], like):  # type: ignore[no-untyped-def]
    """The Safe tx rebuilt from the displayed strings (what the person compares)."""
    from dataclasses import replace

    from agent.wallet.safe_tx import Operation

    return replace(
        like,
        safe=fields["safe"],
        chain_id=int(fields["chain_id"]),
        to=fields["to"],
        value=int(fields["value"]),
        data=bytes.fromhex(fields["data"].removeprefix("0x")),
        operation=Operation[fields["operation"]],
        nonce=int(fields["nonce"]),
    )


@app.command()
def explain(
    file: Path,
    to: str = typer.Option(None, help="Target of a raw transaction (the Safe would call it)."),
    data: str = typer.Option("0x", help="Calldata (hex)."),
    value: int = typer.Option(0, help="Native value in wei."),
    operation: int = typer.Option(0, help="0 call, 1 delegatecall (MultiSendCallOnly batches)."),
    intent: str = typer.Option(
        None,
        "--intent",
        help='A swap intent, e.g. "buy 25 WETH with USDC max-slippage 30bps": the calls the '
        "swap pipeline would send are built from live quotes (needs --rpc-url).",
    ),
    operator: str = typer.Option(
        None, help="The operator key's address (default: the policy's only operator)."
    ),
    safe: str = typer.Option(None, help="The Safe (default: the policy's)."),
    price: list[str] = typer.Option(
        [], "--price", help="Reference price SYMBOL=USD (repeat); else the manifest's feeds."
    ),
    manifest: Path = ManifestOpt,
    rpc_url: str = typer.Option(
        None, "--rpc-url", "--rpc", help="Read allowance state and pause from the module."
    ),
    simulation: str = typer.Option(
        "trace",
        "--simulation",
        help="With --intent: simulate the calls as the signing path does (trace, fallback, "
        "call or off).",
    ),
    order: str = typer.Option(
        None, "--order", help="Show the journaled pre-sign simulations of this client order id."
    ),
    journal: Path = typer.Option(
        None, "--journal", help="With --order: the agent's journal (env AGENT_JOURNAL)."
    ),
) -> None:
    """Which rules allow or deny a raw transaction or a swap intent's calls, and why."""
    from agent.policy import PolicyCall, PolicyContext
    from agent.policy.explain import explain_call
    from agent.policy.onchain import ModuleReader

    if order is not None:
        if to is not None or intent is not None:
            fail("--order: shows what was journaled; give it without --to / --intent")
        _explain_order(order, journal, manifest)
        return
    if (to is None) == (intent is None):
        fail("--to / --intent: give exactly one (a raw transaction, or a swap intent)")
    from agent.cli.trade import parse_simulation

    sim_mode = run(lambda: parse_simulation(simulation))
    policy = _load(file, manifest)
    if operator is None:
        if len(policy.operators) != 1:
            fail(
                f"--operator: policy {policy.name!r} has {len(policy.operators)} operators; name one"
            )
        operator = next(iter(policy.operators))
    if intent is not None:
        _explain_intent(file, manifest, policy, intent, operator, safe, price, rpc_url, sim_mode)
        return
    allowances, paused, now = {}, False, int(time.time())
    if rpc_url and policy.module:
        reader = ModuleReader(rpc_url, policy.module)
        allowances, paused = run(reader.allowance_states), run(reader.paused)
    try:
        raw = bytes.fromhex(data.removeprefix("0x"))
    except ValueError:
        fail(f"--data: {data[:20]}... is not hex")
    call = PolicyCall(to, raw, value, operation)
    view: dict = {}
    if rpc_url:
        view = run_async(lambda: _chain_view(rpc_url, policy, call))
    ctx = PolicyContext(
        operator=operator, chain_id=policy.chain_id, now=now, allowances=allowances,
        paused=paused, **view,
    )  # fmt: skip
    lines = explain_call(policy, call, ctx)
    for line in lines:
        console.print(line, highlight=False, markup=False)
    _exit_on_deny(lines)


async def _chain_view(rpc_url: str, policy, call) -> dict:  # type: ignore[no-untyped-def]
    """What the signing guard reads for the oracle-priced rules (feeds, the value-guard
    window, balances, series, nonces, withdrawals), for the call or its MultiSend batch."""
    from agent.chain.rpc import RpcClient
    from agent.policy.evaluator import _Denied, decode_batch
    from agent.policy.onchain import ChainState

    calls = [call]
    if call.operation == 1:
        with contextlib.suppress(_Denied):  # malformed: the evaluator says so on its own terms
            calls = decode_batch(call.data)
    async with RpcClient(rpc_url) as rpc:
        return await ChainState(rpc, policy).read(calls)


def _exit_on_deny(lines: list[str]) -> None:
    """A deny is an answer, but not a success: exit 1 so scripts can tell."""
    if any(ln.startswith("decision: DENY") for ln in lines):
        raise typer.Exit(1)


def _explain_intent(  # type: ignore[no-untyped-def]
    file: Path, manifest_path: Path, policy, text: str, operator: str, safe: str | None,
    price: list[str], rpc_url: str | None, sim_mode: str | None = "trace",
) -> None:  # fmt: skip
    """Quote, pick and build like the swap pipeline, then the guard's explanation and the
    simulation of the exact module call against the intent's expected amounts."""
    from decimal import Decimal, InvalidOperation

    from agent.chain.devnet import rpc_call
    from agent.chain.rpc import RpcClient
    from agent.deploy.manifest import Manifest
    from agent.execution.calls import parse_swap_intent, plan_swap
    from agent.policy.guard import PolicyGuard
    from agent.policy.prices import feed_prices
    from agent.venues.uniswap_v2 import UniswapV2Venue
    from agent.venues.uniswap_v3 import UniswapV3Venue

    swap = run(lambda: parse_swap_intent(text))
    if not rpc_url:
        fail("--rpc-url: explaining an intent quotes the venues on chain; pass --rpc-url URL")
    fixed: dict[str, Decimal] = {}
    for p in price:
        sym, _, v = p.partition("=")
        try:
            fixed[sym.strip().upper()] = Decimal(v)
        except InvalidOperation:
            fail(f"--price: {p!r} is not SYMBOL=USD, e.g. --price WETH=3000")
    m = run(lambda: Manifest.load(manifest_path))
    for f in ("base", "quote"):
        run(lambda f=f: m.token(getattr(swap, f)))
    chain_now = int(rpc_call(rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    async def go():  # type: ignore[no-untyped-def]
        rpc = await RpcClient(rpc_url, expected_chain_id=m.chain_id, name=m.name).connect()
        try:
            from agent.policy.onchain import ChainState

            # --price asks "what if": the oracle rules are priced from it; else from the
            # chain, as the guard in the signing path reads them (feeds, window, balances)
            guard = PolicyGuard(
                policy, operator=operator, safe=safe or policy.safe, chain_id=m.chain_id,
                prices=feed_prices(rpc, m, fixed), clock=lambda: chain_now,
                chain=None if fixed else ChainState(rpc, policy),
            )  # fmt: skip
            if policy.module:
                guard.sync_from_chain(rpc_url)
            venues = [UniswapV2Venue(rpc, m), UniswapV3Venue(rpc, m)]
            plan = await plan_swap(rpc, venues, swap, safe=guard.policy.safe, now=chain_now)
            sim = await _simulate_plan(rpc, m, policy, operator, plan, sim_mode)
            return plan, await guard.explain(plan.calls), sim
        finally:
            await rpc.close()

    plan, lines, sim = run_async(go)
    tin, tout = m.token(plan.quote.asset_in), m.token(plan.quote.asset_out)
    console.print(
        f"intent: {swap.side.value} {swap.size} {swap.base} with {swap.quote}, "
        f"max slippage {swap.max_slippage_bps} bps (quotes at block {plan.block})",
        highlight=False,
    )
    for sc in plan.scored:
        q = sc.quote
        mark = "chosen" if q is plan.quote else "      "
        console.print(
            f"  {mark} {q.venue}: in {Decimal(q.amount_in).scaleb(-tin.decimals)} {tin.symbol}, "
            f"out {Decimal(q.amount_out).scaleb(-tout.decimals)} {tout.symbol}",
            highlight=False,
        )
    console.print(f"the Safe would make {len(plan.calls)} call(s):", highlight=False)
    if sim is not None:
        from agent.policy.explain import simulation_lines

        lines = lines + simulation_lines(sim, m)
    for line in lines:
        console.print(line, highlight=False, markup=False)
    _exit_on_deny(lines)


async def _simulate_plan(rpc, m, policy, operator, plan, mode):  # type: ignore[no-untyped-def]
    """The SimulationGuard's check of the swap's module call, as a TxSimulated (not
    journaled); None when off or the policy names no module."""
    from agent.chain.simulate import (
        CallRequest,
        SimulationUnavailableError,
        check,
        describe_expectation,
        simulate,
        simulated_event,
    )
    from agent.execution.swap import expectation_for
    from agent.model.decisions import Deny
    from agent.wallet.module import module_calldata

    if mode is None or not policy.module:
        return None
    ms = policy.multisend or m.address("MultiSendCallOnly")
    call = CallRequest(operator, policy.module, module_calldata(list(plan.calls), ms))
    exp = expectation_for(m, [plan.quote], plan.intent.max_slippage_bps)
    try:
        sim = await simulate(rpc, call, policy.safe, mode=mode)
    except SimulationUnavailableError as e:
        from types import SimpleNamespace

        return SimpleNamespace(
            traced=False, block="latest", client_order_id="", ok=False, error=e.message,
            gas_used=0, warning="", deltas=(), approvals=(), expected=describe_expectation(exp),
            verdict="deny", code=e.code, reason=e.message,
        )  # fmt: skip
    verdict = check(sim, exp) if exp is not None else Deny("SIMULATION_MISMATCH", "no pair", "")
    return simulated_event(
        "", m.chain_id, policy.safe, policy.module, sim, verdict, describe_expectation(exp)
    )


def _explain_order(order: str, journal: Path | None, manifest_path: Path) -> None:
    """The simulations journaled for ``order`` (a swap's client id, a plan's batch id)."""
    from agent.cli.journal import open_journal
    from agent.deploy.manifest import Manifest
    from agent.oms.events import TxSimulated, sim_stream
    from agent.policy.explain import simulation_lines

    m = Manifest.load(manifest_path) if manifest_path.exists() else None

    def read() -> list:
        with open_journal(journal) as j:
            return [
                r.event
                for r in j.read_stream(sim_stream(order))
                if isinstance(r.event, TxSimulated)
            ]

    evs = run(read)
    if not evs:
        fail(
            f"--order: no simulation journaled for {order!r} (was it sent with --simulation off?)",
            1,
        )
    for ev in evs:
        for line in simulation_lines(ev, m, live=False):
            console.print(line, highlight=False, markup=False)
