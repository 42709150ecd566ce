"""path.intent_to_signed: one intent through every in-process step before the network.

    SwapIntent -> SubmitOrder (OMS command, trading-state gate)
               -> pre-trade risk gate (agent.risk RiskGate, all default checks, prebuilt context)
               -> build (Uniswap V3 exactOutputSingle + approvals, module execBatch calldata)
               -> sign (agent.signing fast EIP-1559 path, coincurve)
               -> encode the write-ahead TxSigned journal record (canonical JSON; the fsync
                  itself is measured by journal.append)

No network: the quote and the risk context are taken once up front, as the live agent takes
them per tick. Goal: p50 <= 150 us, p99 <= 1 ms. Each stage that is missing from this
checkout (risk, signing, venue) is skipped and named in ``skipped``; ``stages`` gives the
median of each stage measured alone. Baseline: the bare signature (coincurve) in the same run.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import coincurve

from agent.journal import registry
from agent.model import Side, Spot, SwapIntent, TradingState
from agent.oms import SubmitOrder, gate
from agent.oms.events import TxSigned
from bench.common import latency_metric, sample_us

KEY = "0x" + "4c" * 32
N = 2000
ROUNDS = 3
CHAIN = 31_337_001
ADDR = {
    "SwapRouter": "0x" + "11" * 20,
    "QuoterV2": "0x" + "22" * 20,
    "WETH": "0x" + "33" * 20,
    "USDC": "0x" + "44" * 20,
    "module": "0x" + "55" * 20,
    "safe": "0x0000000000000000000000000000000000005AfE",  # examples/policy.toml's Safe
    "multisend": "0x" + "77" * 20,
}
OPERATOR = "0x0000000000000000000000000000000000000a6e"  # examples/policy.toml's operator


def _risk() -> Any:
    try:
        from agent.model.positions import Portfolio, Position
        from agent.risk.checks import OrderProposal, RiskLimits
        from agent.risk.context import build_context
        from agent.risk.gate import RiskGate
        from agent.risk.market import MarketSnapshot, UnderlyingMarket
    except ImportError:
        return None
    now = datetime.now(UTC)
    eth = Spot("ETH", "USDC")
    market = MarketSnapshot(now, {"ETH": UnderlyingMarket(3000.0, 0.6, now, rate=0.04)})
    limits = RiskLimits(
        max_order_notional=Decimal(1_000_000),
        max_position={"*": Decimal(1000)},
        max_underlying_position={"ETH": Decimal(2000)},
        max_venue_exposure={"*": Decimal(10_000_000)},
        max_concentration=Decimal(50),
        max_abs_delta={"ETH": Decimal(5000)},
        max_abs_vega={"ETH": Decimal(10**6)},
        max_orders=10**9,
        max_staleness=timedelta(hours=1),
    )
    pf = Portfolio((Position(eth, Decimal(5), "uniswap_v3@L1"),), (("USDC", Decimal(10**7)),))
    ctx = build_context(pf, market, limits, now=now, instruments=[(eth, Decimal(1))])
    rg = RiskGate()

    def check(cid: str, size: Decimal) -> Any:
        p = OrderProposal(cid, eth, Side.BUY, size, "uniswap_v3@L1", Decimal(3010), Decimal(3005))
        r = rg.evaluate(p, ctx)
        if not r.allowed:
            raise AssertionError(f"bench order refused by risk: {r.summary()}")
        return r

    return check


def _manifest() -> Any:
    from agent.deploy.manifest import Manifest, TokenInfo

    return Manifest(
        CHAIN,
        "L1",
        1,
        contracts={
            "SwapRouter": ADDR["SwapRouter"],
            "QuoterV2": ADDR["QuoterV2"],
            "MultiSendCallOnly": ADDR["multisend"],
            "UniswapV2Router02": "0x" + "88" * 20,
            # examples/policy.toml's oracles and the swap price checker
            "PriceFeedWETH": "0x" + "a1" * 20,
            "PriceFeedUSDC": "0x" + "a2" * 20,
            "PriceFeedDAI": "0x" + "a3" * 20,
            "SwapPriceChecker": "0x" + "a4" * 20,
        },
        tokens={
            "WETH": TokenInfo("WETH", ADDR["WETH"], 18),
            "USDC": TokenInfo("USDC", ADDR["USDC"], 6),
            "DAI": TokenInfo("DAI", "0x" + "99" * 20, 18),
        },
    )


def _guard() -> Any:
    """The signing-policy guard (agent.policy.guard) with examples/policy.toml, fixed oracle
    prices, and a clock a day ahead per check (the daily USDC allowance never runs dry, and
    every check pays for the refill). Its prices are plain values, so a check completes
    without suspending: it is driven here without an event loop."""
    try:
        from agent.policy.guard import PolicyGuard, static_prices
        from agent.policy.resolve import load_policy
    except ImportError:
        return None
    policy = load_policy(
        Path(__file__).resolve().parents[2] / "examples" / "policy.toml", _manifest()
    )
    days = itertools.count(1_800_000_000, 86_400)
    guard = PolicyGuard(
        policy, operator=OPERATOR, safe=ADDR["safe"], chain_id=CHAIN,
        prices=static_prices({"WETH": 3010, "USDC": 1}), clock=lambda: next(days),
    )  # fmt: skip

    def check(calls: Any) -> None:
        coro = guard.check(calls)
        try:
            coro.send(None)
        except StopIteration as done:
            if not done.value.allowed:
                raise AssertionError(f"bench order refused by the policy: {done.value}") from None
            return
        coro.close()
        raise AssertionError("the policy guard suspended: a price source that does I/O")

    return check


def _builder(guard: Any = None) -> Any:
    try:
        from agent.model import Quote
        from agent.signing import TxRequest
        from agent.venues.uniswap_v3 import UniswapV3Venue
        from agent.wallet.module import module_calldata
    except ImportError:
        return None
    venue = UniswapV3Venue(None, _manifest())  # type: ignore[arg-type]  (no RPC: building is pure)
    quote = Quote(
        venue.id, Side.BUY, "USDC", "WETH", 4_512_345_678, 1_500_000_000_000_000_000, 5,
        gas_units=180_000, route=(ADDR["USDC"], ADDR["WETH"]), extra=(("fee", "500"),),
    )  # fmt: skip
    nonce = itertools.count(1)

    def build(intent: SwapIntent) -> Any:
        calls = venue.build_swap(
            quote, recipient=ADDR["safe"], slippage_bps=intent.max_slippage_bps, deadline=2**40
        )
        if guard is not None:
            guard(calls)
        return TxRequest(
            chain_id=CHAIN,
            nonce=next(nonce),
            to=ADDR["module"],
            data=module_calldata(calls, ADDR["multisend"]),
            gas=quote.gas_units,
            max_fee_per_gas=42 * 10**9,
            max_priority_fee_per_gas=2 * 10**9,
        )

    return build


def _signer() -> Any:
    try:
        from agent.signing import LocalSigner, check_fast_backend
    except ImportError:
        return None
    check_fast_backend()
    return LocalSigner(KEY).sign_transaction_sync


def _measure(name: str, guarded: bool, risk: Any, sign: Any, guard: Any) -> dict:
    build = _builder(guard if guarded else None)
    skipped = [n for n, f in (("risk", risk), ("build", build), ("sign", sign)) if f is None]
    ids = itertools.count()
    size = Decimal("1.5")
    key = coincurve.PrivateKey(bytes.fromhex(KEY[2:]))
    digest = os.urandom(32)

    def path() -> Any:
        cid = f"path-{next(ids)}"
        intent = SwapIntent(cid, Side.BUY, "WETH", "USDC", size, 30)
        cmd = SubmitOrder(cid, "WETH/USDC", intent.side, intent.size, venue="uniswap_v3@L1")
        if not gate(TradingState.ACTIVE, cmd).allowed:
            raise AssertionError("trading gate refused the bench order")
        if risk is not None:
            risk(cid, intent.size)
        if build is None:
            return None
        tx = build(intent)
        if sign is None:
            return tx
        st = sign(tx)
        return registry.encode(
            TxSigned(CHAIN, st.sender, tx.nonce, "0x" + st.hash.hex(), st.raw,
                     tx.max_fee_per_gas, tx.max_priority_fee_per_gas, cid)
        )  # fmt: skip

    ours: list[float] = []
    bare: list[float] = []
    stages: dict[str, float] = {}
    for _ in range(ROUNDS):  # interleaved so machine noise hits both alike
        ours += sample_us(path, N)
        bare += sample_us(lambda: key.sign_recoverable(digest, hasher=None), N)
    intent = SwapIntent("stage", Side.BUY, "WETH", "USDC", size, 30)
    if risk is not None:
        stages["risk_gate"] = _median(sample_us(lambda: risk("stage", size), N // 2))
    if build is not None:
        stages["build"] = _median(sample_us(lambda: build(intent), N // 2))
        if sign is not None:
            tx = build(intent)
            stages["sign"] = _median(sample_us(lambda: sign(tx), N // 2))
    used = ["oms_gate", "risk", "build", "sign", "journal_encode"]
    if guarded:
        used.insert(3, "policy_guard")
    return latency_metric(
        name,
        ours,
        baseline=("coincurve.sign_recoverable_32B", bare),
        goal="p50 <= 150 us, p99 <= 1000 us",
        stages_p50_us=stages,
        used=[n for n in used if n not in skipped],
        skipped=skipped,
    )


def run() -> list[dict[str, Any]]:
    """The path without and with the signing-policy guard (the guarded variant's build stage
    includes the guard's check). Calldata goes through agent.signing.abi.encode, as wired."""
    risk, sign, guard = _risk(), _signer(), _guard()
    variants = [("path.intent_to_signed", False)]
    if guard is not None:
        variants.append(("path.intent_to_signed_guarded", True))
    return [_measure(n, g, risk, sign, guard) for n, g in variants]


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return round(s[len(s) // 2], 3)
