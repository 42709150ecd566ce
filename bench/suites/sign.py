"""sign.eip1559: our EIP-1559 signing path vs a bare coincurve signature of a 32-byte hash.

Baseline (same run, interleaved rounds): ``coincurve.sign_recoverable`` of a precomputed
digest, the irreducible cost of one secp256k1 signature. Goal: ratio <= 2. For reference,
``sign.eth_account`` times eth-account's ``Account.sign_transaction`` on the same tx.

sign.threshold: one two-party ECDSA signature (agent.signing.threshold, Lindell 2017) of the
same transaction, through the Signer protocol as the TxEngine calls it (dispatch.sign_tx:
the answer is decoded and recovered too), with party 2 in its own process (`agent signer
serve`) over loopback TCP. Baseline: the local key's sign of the same tx, same run. Goal:
p50 <= 50 ms. Signatures are PACE seconds apart (untimed), as a desk's are: party 2 uses the
gaps to precompute its Paillier noise (the offline phase; ~12 ms of CPU per signature).
References, reported so nothing is hidden: ``sign.threshold_back_to_back`` (no gaps: the
noise is computed while party 1 already waits) and ``sign.threshold_no_pool`` (gaps, but
no precomputation: the whole encryption online).

sim.trace_call: simulate-before-sign (agent.chain.simulate) of the module call a swap signs
(Safe -> PolicyModule -> MultiSend -> Uniswap, buy 1 WETH with USDC on the dev world):
the call trace (callTracer withLog; ETH from its frames) plus the delta extraction and the
intent check, on anvil. Baseline: a bare eth_call of the same call on the same node,
interleaved. Goal: ratio <= 3. ``sim.trace_call_prestate`` (reference): the same with the
prestateTracer diff in the same batch, as before one trace sufficed.

sign.cosigner: request -> co-signature of that swap's module call (approve + buy 1 WETH +
approve 0, a MultiSend batch) from `agent cosigner run` in its own process over loopback
HTTP: the co-signer decodes the batch, reads the head, re-evaluates its policy at that
block (oracle reads, value-guard pre-check; cached per block), signs, simulates
executeCosigned at the same block (one trace) and answers; the client recomputes the
digest and recovers the signer. The requests come back to back, so after the first they
are all in one block: the policy's reads come from the co-signer's per-block cache.
``sign.cosigner_new_block`` (reference) mines a block before each request (untimed), so
every request reads the chain afresh. Baseline: the local sign of the module transaction,
same run. Goal: p50 <= 5 ms. ``cpu_us_per_request``: the CPU time the co-signer process
and the node spent per request (/proc), which the load of a shared machine does not move.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import coincurve
from eth_account import Account

from agent.signing import LocalSigner, TxRequest, check_fast_backend
from bench.common import latency_metric, sample_us

KEY = "0x" + "4c" * 32
ROUNDS = 5
N = 4000


def run() -> list[dict]:
    import asyncio

    return run_local() + run_threshold() + asyncio.run(run_trace_call()) + run_cosigner()


def run_local() -> list[dict]:
    check_fast_backend()
    signer = LocalSigner(KEY)
    # an ERC-20 transfer: the typical hot-path payload (68 bytes of calldata)
    tx = TxRequest(
        chain_id=31_337_001,
        nonce=1234,
        to="0x" + "a0" * 20,
        value=0,
        data=bytes.fromhex("a9059cbb") + b"\x00" * 12 + b"\x11" * 20 + (10**18).to_bytes(32, "big"),
        gas=65_000,
        max_fee_per_gas=42 * 10**9,
        max_priority_fee_per_gas=2 * 10**9,
    )
    key = coincurve.PrivateKey(bytes.fromhex(KEY[2:]))
    digest = os.urandom(32)
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(ROUNDS):  # interleaved so machine noise hits both alike
        ours += sample_us(lambda: signer.sign_transaction_sync(tx), N)
        bare += sample_us(lambda: key.sign_recoverable(digest, hasher=None), N)
    d = {
        "type": 2, "chainId": tx.chain_id, "nonce": tx.nonce, "to": Account.from_key(KEY).address,
        "value": 0, "data": tx.data, "gas": tx.gas, "maxFeePerGas": tx.max_fee_per_gas,
        "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
    }  # fmt: skip
    acct = Account.from_key(KEY)
    ref = sample_us(lambda: acct.sign_transaction(d), 400, warmup=20)
    bare_ref = sample_us(lambda: key.sign_recoverable(digest, hasher=None), 400, warmup=20)
    return [
        latency_metric(
            "sign.eip1559", ours, baseline=("coincurve.sign_recoverable_32B", bare), goal_ratio=2
        ),
        latency_metric(
            "sign.eth_account",
            ref,
            baseline=("coincurve.sign_recoverable_32B", bare_ref),
            reference=True,
        ),
    ]


def _erc20_tx(to: str) -> TxRequest:
    return TxRequest(
        chain_id=31_337_001, nonce=1234, to=to, value=0,
        data=bytes.fromhex("a9059cbb") + b"\x00" * 12 + b"\x11" * 20 + (10**18).to_bytes(32, "big"),
        gas=65_000, max_fee_per_gas=42 * 10**9, max_priority_fee_per_gas=2 * 10**9,
    )  # fmt: skip


N_THRESHOLD = 60
PACE = 0.05  # seconds between threshold signatures (untimed)


def run_threshold() -> list[dict]:
    import asyncio
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from agent.signing.dispatch import sign_tx
    from agent.signing.threshold import ThresholdSigner

    d = Path(tempfile.mkdtemp(prefix="tss-bench-"))
    kg = subprocess.run(
        [sys.executable, "-m", "agent.cli", "signer", "keygen", "--out-dir", str(d)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if kg.returncode != 0:
        raise RuntimeError(f"keygen failed: {kg.stderr.strip()}")
    local = LocalSigner(KEY)
    tx = _erc20_tx("0x" + "a0" * 20)
    out: list[dict] = []
    runs = (("sign.threshold", 4, PACE), ("sign.threshold_back_to_back", 4, 0.0),
            ("sign.threshold_no_pool", 0, PACE))  # fmt: skip
    for name, pool, pace in runs:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "signer", "serve", "--share",
             str(d / "party2.share.json"), "--listen", "127.0.0.1:0", "--noise-pool", str(pool)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line.startswith("serving "):
                raise RuntimeError(f"signer serve did not start: {line!r}")
            signer = ThresholdSigner.from_files(d / "party1.share.json", line.split()[-1])

            async def measure(signer: ThresholdSigner = signer, pace: float = pace) -> list[float]:
                import time

                xs = []
                try:
                    for i in range(N_THRESHOLD + 5):
                        if pace:
                            await asyncio.sleep(pace)
                        t0 = time.perf_counter_ns()
                        await sign_tx(signer, tx.replace(nonce=i))
                        if i >= 5:  # warm-up: connection, first imports
                            xs.append((time.perf_counter_ns() - t0) / 1000)
                finally:
                    await signer.aclose()
                return xs

            xs = asyncio.run(measure())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        base = sample_us(lambda: local.sign_transaction_sync(tx), 2000)
        extra = {"goal_p50_us": 50_000} if name == "sign.threshold" else {"reference": True}
        out.append(latency_metric(name, xs, baseline=("sign.eip1559_local", base), **extra))
    return out


N_SIM = 60


async def run_trace_call() -> list[dict]:
    import tempfile
    import time
    from decimal import Decimal
    from pathlib import Path

    from agent.chain.rpc import RpcClient
    from agent.chain.simulate import CallRequest, Expectation, check, simulate
    from agent.deploy.devworld import OPERATOR_KEY, address_of, bring_up, deploy_dev_wallet
    from agent.execution.calls import parse_swap_intent, plan_swap
    from agent.venues.uniswap_v2 import UniswapV2Venue
    from agent.venues.uniswap_v3 import UniswapV3Venue
    from agent.wallet.module import module_calldata

    w = bring_up(Path(tempfile.mkdtemp(prefix="bench-sim-")))
    try:
        wallet = deploy_dev_wallet(w, salt=77, usdc=Decimal(1_000_000))
        m = w.l1
        async with RpcClient(w.devnets.l1.rpc_url, expected_chain_id=m.chain_id) as rpc:
            venues = [UniswapV2Venue(rpc, m), UniswapV3Venue(rpc, m)]
            intent = parse_swap_intent("buy 1 WETH with USDC max-slippage 50bps")
            plan = await plan_swap(rpc, venues, intent, safe=wallet.safe, now=int(time.time()))
            data = module_calldata(list(plan.calls), m.address("MultiSendCallOnly"))
            call = CallRequest(address_of(OPERATOR_KEY), wallet.module, data)
            q = plan.quote
            exp = Expectation(
                m.token("USDC").address, q.amount_in * 10_050 // 10_000,
                m.token("WETH").address, q.amount_out, frozenset(c.to for c in plan.calls),
            )  # fmt: skip

            async def sim(prestate: bool = False) -> None:
                s = await simulate(rpc, call, wallet.safe, prestate=prestate)
                if not check(s, exp).allowed:
                    raise RuntimeError(f"the benchmark's swap does not pass: {check(s, exp)}")

            async def sim2() -> None:
                await sim(prestate=True)

            async def bare() -> None:
                await rpc.call("eth_call", [call.to_rpc(), "latest"])

            ours: list[float] = []
            two: list[float] = []
            base: list[float] = []
            for _ in range(5):  # warm-up
                await sim()
                await sim2()
                await bare()
            for _ in range(N_SIM):  # interleaved
                for fn, xs in ((sim, ours), (sim2, two), (bare, base)):
                    t0 = time.perf_counter_ns()
                    await fn()
                    xs.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        w.stop()
    return [
        latency_metric("sim.trace_call", ours, baseline=("eth_call", base), goal_ratio=3),
        latency_metric("sim.trace_call_prestate", two, baseline=("eth_call", base), reference=True),
    ]


N_COSIGN = 300
N_COSIGN_NEW_BLOCK = 100


def run_cosigner() -> list[dict]:
    import asyncio
    import secrets
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from agent.deploy.devworld import address_of, bring_up, deploy_dev_wallet
    from agent.wallet.deploy import default_policy_template

    d = Path(tempfile.mkdtemp(prefix="bench-cosign-"))
    w = bring_up(d / "world")
    proc = None
    try:
        co_key = "0x" + secrets.token_hex(32)
        cosigner = address_of(co_key)
        text = default_policy_template(w.l1).read_text()
        marker = 'operators = ["${OPERATOR}"]\n'
        (d / "t.toml").write_text(
            text.replace(marker, marker + 'requires_cosigner = "${COSIGNER}"\n')
        )
        wallet = deploy_dev_wallet(
            w, salt=78, usdc=Decimal(1_000_000), policy_template=d / "t.toml",
            policy_out=d / "policy.toml", policy_vars={"COSIGNER": cosigner},
        )  # fmt: skip
        (d / "cosigner.toml").write_text(
            f'key_env = "BENCH_COSIGNER_KEY"\npolicy = "{wallet.policy_file}"\n'
            f'manifest = "{w.manifest_paths[0]}"\nrpc_url = "{w.devnets.l1.rpc_url}"\nport = 0\n'
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "cosigner", "run", "--quiet", "--config",
             str(d / "cosigner.toml")],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "BENCH_COSIGNER_KEY": co_key},
        )  # fmt: skip
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening "):
            raise RuntimeError(f"cosigner did not start: {line!r}")
        url = "http://" + line.split()[1]
        pids = {"cosigner": proc.pid, "node": w.devnets.l1.pid}
        cpu0 = {k: _cpu_us(p) for k, p in pids.items()}
        xs, base = asyncio.run(_measure_cosigner(w, wallet, url, cosigner))
        cpu = {k: round((_cpu_us(p) - cpu0[k]) / (N_COSIGN + 5)) for k, p in pids.items()}
        xs_nb, base_nb = asyncio.run(
            _measure_cosigner(w, wallet, url, cosigner, new_block=True, n=N_COSIGN_NEW_BLOCK)
        )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        w.stop()
    return [
        latency_metric(
            "sign.cosigner",
            xs,
            baseline=("sign.eip1559_local", base),
            goal_p50_us=5_000,
            cpu_us_per_request=cpu,  # CPU the co-signer process and the node spent per request
        ),
        latency_metric(
            "sign.cosigner_new_block",
            xs_nb,
            baseline=("sign.eip1559_local", base_nb),
            reference=True,
        ),
    ]


def _cpu_us(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc), microseconds: a load-proof
    companion to the wall-clock figures on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


async def _measure_cosigner(  # type: ignore[no-untyped-def]
    w, wallet, url: str, cosigner: str, new_block: bool = False, n: int = N_COSIGN
) -> tuple[list[float], list[float]]:
    import time

    from agent.chain.rpc import RpcClient
    from agent.deploy.devworld import OPERATOR_KEY, address_of
    from agent.execution.calls import parse_swap_intent, plan_swap
    from agent.signing.cosigner.client import CosignerClient
    from agent.signing.cosigner.wire import execute_cosigned_calldata, module_call
    from agent.venues.uniswap_v2 import UniswapV2Venue
    from agent.venues.uniswap_v3 import UniswapV3Venue

    m = w.l1
    local = LocalSigner(OPERATOR_KEY)
    client = CosignerClient(url, cosigner=cosigner)
    xs: list[float] = []
    base: list[float] = []
    async with RpcClient(w.devnets.l1.rpc_url, expected_chain_id=m.chain_id) as rpc:
        venues = [UniswapV2Venue(rpc, m), UniswapV3Venue(rpc, m)]
        intent = parse_swap_intent("buy 1 WETH with USDC max-slippage 50bps")
        plan = await plan_swap(rpc, venues, intent, safe=wallet.safe, now=int(time.time()))
        mc = module_call(list(plan.calls), m.address("MultiSendCallOnly"))
        operator = address_of(OPERATOR_KEY)
        try:
            for i in range(n + 5):
                if new_block:  # untimed: the co-signer's cached reads are a block old now
                    await rpc.call("evm_mine", [])
                t0 = time.perf_counter_ns()
                cs = await client.cosign(
                    module=wallet.module, chain_id=m.chain_id, operator=operator, call=mc
                )
                if i >= 5:  # warm-up: connection, first oracle reads
                    xs.append((time.perf_counter_ns() - t0) / 1000)
                tx = TxRequest(
                    chain_id=m.chain_id, nonce=i, to=wallet.module, value=0,
                    data=execute_cosigned_calldata(mc, cs.nonce, cs.deadline, cs.signature),
                    gas=500_000, max_fee_per_gas=42 * 10**9, max_priority_fee_per_gas=2 * 10**9,
                )  # fmt: skip
                t0 = time.perf_counter_ns()
                local.sign_transaction_sync(tx)
                if i >= 5:
                    base.append((time.perf_counter_ns() - t0) / 1000)
        finally:
            await client.close()
    return xs, base
