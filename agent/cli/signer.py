"""`agent signer keygen|serve|address|check|send`: the two-party threshold signer.

    agent signer keygen --out-dir DIR            both parties, two processes over loopback
    agent signer keygen --party 2 --listen H:P --out FILE     one side each, e.g. on two hosts
    agent signer keygen --party 1 --peer H:P --out FILE
    agent signer serve --share party2.json --listen 127.0.0.1:7650     party 2's service
    agent signer check --share party1.json --peer 127.0.0.1:7650       one probe signature
    agent signer send --share party1.json --peer ... --rpc-url ... --to 0x.. --value-wei N
    agent signer simulate --rpc-url ... --from 0x.. --to 0x.. --data 0x.. --account SAFE
        [--expect-in TOKEN:MAX --expect-out TOKEN:MIN --spender 0x..]    what a call would do

Bad input exits non-zero with one line naming the code; no share file is written unless the
whole ceremony verified.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from agent.cli.common import console, fail, run, run_async

app = typer.Typer(
    help="Two-party threshold ECDSA signer (keygen, serve, check).", no_args_is_help=True
)

P1_FILE = "party1.share.json"
P2_FILE = "party2.share.json"


def _hostport(value: str, field: str) -> tuple[str, int]:
    listen = field == "--listen"
    from agent.errors import ValidationError
    from agent.signing.threshold.signer import parse_peer

    try:
        return parse_peer(value, listen=listen)
    except ValidationError as e:
        raise ValidationError(field, e.problem, e.fix) from None


PasswordEnv = typer.Option(
    "", "--password-env", help="Env var holding the share file's password (encrypts/decrypts it)."
)


def _password(env_name: str) -> str | None:
    from agent.errors import ValidationError

    if not env_name:
        return None
    pw = os.environ.get(env_name)
    if not pw:
        raise ValidationError("--password-env", f"{env_name} is not set", f"export {env_name}=...")
    return pw


@app.command()
def keygen(
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Run both parties (two processes) and write both shares here."
    ),
    party: int | None = typer.Option(None, "--party", help="Run one side only: 1 or 2."),
    listen: str = typer.Option("127.0.0.1:0", "--listen", help="Party 2: host:port to listen on."),
    peer: str = typer.Option("", "--peer", help="Party 1: host:port of party 2."),
    out: Path | None = typer.Option(None, "--out", help="One side: the share file to create."),
    password_env: str = PasswordEnv,
) -> None:
    """Run the key-generation ceremony; print the joint (operator) address."""
    from agent.signing.threshold import run_keygen_p1, run_keygen_p2

    pw = run(lambda: _password(password_env))

    if out_dir is not None and party is not None:
        fail("--out-dir runs both parties; --party runs one: pass one of them")
    if out_dir is None and party is None:
        fail("pass --out-dir DIR (both parties) or --party 1|2 with --out FILE")
    if party is not None:
        if party not in (1, 2):
            fail(f"--party: {party} is neither 1 nor 2")
        if out is None:
            fail("--out: missing; pass the share file to create")
        if party == 2:
            host, port = run(lambda: _hostport(listen, "--listen"))

            def listening(p: int) -> None:
                print(f"listening {host}:{p}", flush=True)

            share = run_async(
                lambda: run_keygen_p2(host, port, out, on_listen=listening, password=pw)
            )
        else:
            host, port = run(lambda: _hostport(peer, "--peer"))
            share = run_async(lambda: run_keygen_p1(host, port, out, password=pw))
        console.print(f"address {share.address} key_id {share.key_id} share {out}", highlight=False)
        return
    assert out_dir is not None
    if not out_dir.is_dir():
        fail(f"--out-dir: {out_dir} is not a folder; create it first")
    p1, p2 = out_dir / P1_FILE, out_dir / P2_FILE
    for f in (p1, p2):
        if f.exists():
            fail(f"--out-dir: {f} already exists (a live share?); nothing was overwritten")
    # party 2 in a process of its own: the two shares never meet in one address space
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "signer", "keygen", "--party", "2",
         "--listen", "127.0.0.1:0", "--out", str(p2)]
        + (["--password-env", password_env] if password_env else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening "):
            proc.wait(10)
            err = proc.stderr.read().strip() if proc.stderr else ""
            fail(f"party 2 did not start: {err or line.strip()}", 1)
        host, port = _hostport(line.split()[1], "party 2")
        share = run_async(lambda: run_keygen_p1(host, port, p1, password=pw))
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            fail(f"party 2 failed: {err.strip()}", 1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    console.print(f"address {share.address}", highlight=False)
    console.print(f"key_id  {share.key_id}", highlight=False)
    console.print(f"party 1 share {p1}  (the agent: AGENT_THRESHOLD_SHARE)", highlight=False)
    console.print(f"party 2 share {p2}  (agent signer serve --share ...)", highlight=False)


@app.command()
def serve(
    share: Path = typer.Option(..., "--share", help="Party 2's share file."),
    listen: str = typer.Option("127.0.0.1:7650", "--listen", help="host:port to serve on."),
    noise_pool: int = typer.Option(
        4, "--noise-pool", min=0, help="Paillier noise values precomputed between sessions."
    ),
    password_env: str = PasswordEnv,
) -> None:
    """Party 2: co-sign with party 1 until SIGTERM or Ctrl-C."""
    from agent.signing.threshold import P2Share, SignerService, read_share

    host, port = run(lambda: _hostport(listen, "--listen"))
    pw = run(lambda: _password(password_env))
    sh = run(lambda: read_share(share, role=2, password=pw))
    assert isinstance(sh, P2Share)

    async def go() -> None:
        svc = SignerService(sh, pool=noise_pool)
        bound = await svc.start(host, port)
        print(f"serving {sh.address} on {host}:{bound}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await svc.stop()
        print(f"stopped: {svc.signed} signed, {svc.refused} refused", flush=True)

    run_async(go)


@app.command()
def address(
    share: Path = typer.Option(..., "--share", help="Either party's share file."),
    password_env: str = PasswordEnv,
) -> None:
    """Print the joint address and key id of a share (after re-checking the file)."""
    from agent.signing.threshold import read_share

    pw = run(lambda: _password(password_env))
    sh = run(lambda: read_share(share, password=pw))
    role = 1 if hasattr(sh, "x1") else 2
    console.print(f"address {sh.address} key_id {sh.key_id} party {role}", highlight=False)


@app.command()
def check(
    share: Path = typer.Option(..., "--share", help="Party 1's share file."),
    peer: str = typer.Option(..., "--peer", help="host:port of `agent signer serve`."),
    password_env: str = PasswordEnv,
) -> None:
    """Sign a probe transaction (never sent) with party 2 and verify it: is the peer up and
    does it hold the matching share?"""
    from agent.signing.dispatch import sign_tx
    from agent.signing.threshold import ThresholdSigner
    from agent.signing.types import TxRequest

    run(lambda: _hostport(peer, "--peer"))
    pw = run(lambda: _password(password_env))
    signer = run(lambda: ThresholdSigner.from_files(share, peer, password=pw))
    probe = TxRequest(chain_id=1, nonce=0, to=signer.address, gas=21_000)  # a 0-fee self-send

    async def go() -> float:
        try:
            t0 = time.perf_counter()
            await sign_tx(signer, probe)
            return (time.perf_counter() - t0) * 1000
        finally:
            await signer.aclose()

    ms = run_async(go)
    console.print(f"ok: {signer.address} signed with {peer} in {ms:.1f} ms", highlight=False)


@app.command()
def send(
    share: Path = typer.Option(..., "--share", help="Party 1's share file."),
    peer: str = typer.Option(..., "--peer", help="host:port of `agent signer serve`."),
    rpc_url: str = typer.Option(..., "--rpc-url"),
    to: str = typer.Option(..., "--to", help="Recipient address."),
    value_wei: int = typer.Option(..., "--value-wei", min=0, help="Amount in wei."),
    journal: Path = typer.Option(Path(".state/journal.sqlite"), "--journal"),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the receipt."),
    password_env: str = PasswordEnv,
) -> None:
    """Send ETH from the joint address through the TxEngine (journaled, tracked)."""
    from agent.chain.rpc import RpcClient
    from agent.chain.txengine import EngineConfig, TxEngine, TxSpec
    from agent.errors import ChainError
    from agent.journal import SqliteJournal
    from agent.oms.tx import TxState
    from agent.signing.threshold import ThresholdSigner
    from agent.signing.types import _addr_bytes

    run(lambda: _addr_bytes("--to", to))
    run(lambda: _hostport(peer, "--peer"))
    pw = run(lambda: _password(password_env))
    signer = run(lambda: ThresholdSigner.from_files(share, peer, password=pw))

    async def go() -> tuple[str, str]:
        rpc = await RpcClient(rpc_url).connect()
        journal.parent.mkdir(parents=True, exist_ok=True)
        store = SqliteJournal(journal)
        try:
            eng = TxEngine(rpc, signer, store, EngineConfig(chain_id=rpc.chain_id, confirmations=1))
            await eng.start()
            res = await eng.send(TxSpec(to=to, value=value_wei))
            if res.error is not None:
                raise res.error
            try:
                rec = await eng.wait_for(res.tx_hash, {TxState.MINED, TxState.CONFIRMED}, timeout)
            except TimeoutError as e:
                raise ChainError(
                    f"{res.tx_hash} was sent but not mined within {timeout:g}s; the engine "
                    f"tracks it on its next start (journal {journal})",
                    code="TX_NOT_MINED",
                ) from e
            await eng.flush()
            return rec.tx_hash, rec.state.value
        finally:
            await signer.aclose()
            await rpc.close()
            store.close()

    h, state = run_async(go)
    console.print(f"{state} {h} from {signer.address}", highlight=False)


def _bound(value: str, field: str) -> tuple[str, int]:
    from agent.errors import ValidationError
    from agent.signing.types import _addr_bytes

    token, _, amount = value.partition(":")
    if token.upper() != "ETH":
        try:
            _addr_bytes(field, token)
        except ValidationError as e:
            raise ValidationError(
                field, e.problem, "pass TOKEN:AMOUNT, e.g. 0xA0b8...:1000000"
            ) from None
    if not amount.isdigit():
        raise ValidationError(
            field, f"{amount!r} is not an amount in base units", "e.g. 0x..:1000000"
        )
    return ("ETH" if token.upper() == "ETH" else token), int(amount)


@app.command()
def simulate(
    rpc_url: str = typer.Option(..., "--rpc-url"),
    sender: str = typer.Option(..., "--from", help="Who signs the call (the operator)."),
    to: str = typer.Option(..., "--to", help="The called contract (e.g. the PolicyModule)."),
    data: str = typer.Option("0x", "--data", help="Calldata, hex."),
    value_wei: int = typer.Option(0, "--value-wei", min=0),
    account: str = typer.Option(..., "--account", help="Whose assets to report (the Safe)."),
    expect_in: str = typer.Option("", "--expect-in", help="TOKEN:MAX the account may pay."),
    expect_out: str = typer.Option("", "--expect-out", help="TOKEN:MIN it must receive."),
    spender: list[str] = typer.Option([], "--spender", help="A spender the call may approve."),
    fallback: bool = typer.Option(
        False, "--fallback", help="Accept eth_call if the node cannot trace."
    ),
) -> None:
    """Simulate a call before signing it (debug_traceCall): the account's asset deltas, and
    with --expect-in/--expect-out the verdict (exit 3 on SIMULATION_MISMATCH/REVERTED)."""
    from agent.chain.rpc import RpcClient
    from agent.chain.simulate import CallRequest, Expectation, check
    from agent.chain.simulate import simulate as sim_call
    from agent.errors import ValidationError
    from agent.signing.types import _addr_bytes

    for f, v in (("--from", sender), ("--to", to), ("--account", account)):
        run(lambda f=f, v=v: _addr_bytes(f, v))
    try:
        raw = bytes.fromhex(data[2:] if data.startswith("0x") else data)
    except ValueError:
        raw = run(
            lambda: (_ for _ in ()).throw(ValidationError("--data", "is not hex", "pass 0x..."))
        )
    exp = None
    if expect_in or expect_out:
        if not (expect_in and expect_out):
            fail("--expect-in and --expect-out go together")
        tin, max_in = run(lambda: _bound(expect_in, "--expect-in"))
        tout, min_out = run(lambda: _bound(expect_out, "--expect-out"))
        exp = Expectation(tin, max_in, tout, min_out, frozenset(s.lower() for s in spender))

    async def go():  # type: ignore[no-untyped-def]
        async with RpcClient(rpc_url) as rpc:
            return await sim_call(
                rpc, CallRequest(sender, to, raw, value_wei), account,
                mode="fallback" if fallback else "trace",
            )  # fmt: skip

    s = run_async(go)
    if s.warning:
        console.print(f"warning: {s.warning}", highlight=False)
    console.print(
        f"{'ok' if s.ok else 'reverts: ' + str(s.error)}  gas {s.gas_used}", highlight=False
    )
    if s.deltas is not None:
        d = s.deltas
        console.print(f"ETH {d.eth:+d} wei", highlight=False)
        for token, v in sorted(d.tokens.items()):
            console.print(f"token {token} {v:+d}", highlight=False)
        for a in d.approvals:
            console.print(f"approval {a.token} -> {a.spender}: {a.amount} left", highlight=False)
    if exp is not None:
        dec = check(s, exp)
        if not dec.allowed:
            console.print(f"denied [{dec.code}] {dec.reason}", highlight=False)
            raise typer.Exit(3)
        console.print(f"allowed: {dec.note}", highlight=False)
