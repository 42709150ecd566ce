"""The differential test for the oracle-priced rules: generated swaps (V2 exact in/out, V3
exactInputSingle / exactOutputSingle / exactInput / exactOutput) with limits around the
SwapPriceChecker's bound, options fills around the OptionsFillChecker's (makers, takers,
series, premiums), bridge deposits and approvals, against the dev policy with the value guard
on. For each, the evaluator's decision (with the context the guard reads from the chain)
equals the module's outcome in an eth_call of execute; a deny carries the module's status.
At least 30% of the generated calls are on the allowed side (measured and asserted)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as fsel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.deploy.devworld import MARKET_MAKER_KEY, DevWorld
from agent.policy import PolicyCall, evaluate
from agent.policy.model import Status
from agent.venues.options import calldata as oc
from agent.venues.options.devsetup import fund
from agent.venues.options.eip712 import MakerSide, OptionQuote, sign_quote
from agent.venues.options.series import SeriesTerms

from .oracle_env import DevEnv, approve, make_dev_env

pytestmark = pytest.mark.integration

EXAMPLES = 700
T8 = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
T5 = "(bytes,address,uint256,uint256,uint256)"
V2T = ["uint256", "uint256", "address[]", "address", "uint256"]
USD = {"USDC": 1, "DAI": 1, "WETH": 3000, "WBTC": 90_000}
DEC = {"USDC": 6, "DAI": 18, "WETH": 18, "WBTC": 8}


@pytest.fixture(scope="module")
def env(world: DevWorld) -> Iterator[DevEnv]:
    l1 = world.devnets.l1
    snap = l1.snapshot()
    try:
        yield make_dev_env(world, salt=1402, usdc=Decimal(2_000_000))
    finally:
        l1.revert(snap)


def fair_out(sym_in: str, sym_out: str, amount_in: int) -> int:
    """Base units of ``sym_out`` worth ``amount_in`` of ``sym_in`` at the dev feeds."""
    return amount_in * USD[sym_in] * 10 ** DEC[sym_out] // (USD[sym_out] * 10 ** DEC[sym_in])


def test_offchain_equals_onchain_for_the_oracle_rules(env: DevEnv) -> None:
    m = env.m
    tok = {s: m.token(s).address for s in USD}
    v3, v2, market = (
        m.address("SwapRouter"),
        m.address("UniswapV2Router02"),
        m.address("OptionsMarket"),
    )
    escrow = m.address("BridgeEscrow")
    # a listed series (the dev oracle) and a stranger's (its own feed)
    expiry = (env.now() // 86400 + 30) * 86400 + 8 * 3600
    listed = SeriesTerms(tok["WETH"], tok["USDC"], tok["USDC"], m.address("PriceFeedWETH"),
                         2800 * 10**6, 0, expiry, False)  # fmt: skip
    env.deployer.send(market, oc.create_series(listed))
    other_feed = env.deployer.deploy("DevPriceFeed", 8, "x", 3000 * 10**8, env.deployer.address)
    stranger = SeriesTerms(
        tok["WETH"], tok["USDC"], tok["USDC"], other_feed, 2800 * 10**6, 0, expiry, False
    )
    env.deployer.send(market, oc.create_series(stranger))
    recipient = next(
        iter(next(s for s in env.policy.sets.values() if s.name == "bridge_recipients").values)
    )
    bridge_to = "0x" + recipient.to_bytes(20, "big").hex()

    amount = st.sampled_from([10**3, 10**4, 5 * 10**4]).map(Decimal)  # USD notional
    # the limit, in bps off the fair amount: mostly inside the 200 bps bound, some at and past it
    off_bps = st.one_of(
        st.integers(-150, 150),
        st.integers(-150, 150),
        st.sampled_from([-200, -201, 200, 201, -1000, 1000]),
    )
    pair = st.sampled_from(
        [("USDC", "WETH"), ("WETH", "USDC"), ("USDC", "WBTC"), ("DAI", "WETH"), ("USDC", "DAI")]
    )

    def units(sym: str, usd: Decimal) -> int:
        return int(usd * 10 ** DEC[sym] / USD[sym])

    def swap(kind: str, p: tuple[str, str], usd: Decimal, bps: int) -> PolicyCall:
        a, b = p
        if kind in ("eis", "ei", "v2in"):
            amt = units(a, usd)
            bound = fair_out(a, b, amt) * (10_000 - bps) // 10_000  # bps > 0: a lower min out
        else:
            amt = units(b, usd)
            bound = fair_out(b, a, amt) * (10_000 + bps) // 10_000  # bps > 0: a higher max in
        if kind in ("eis", "eos"):
            args = (tok[a], tok[b], 500, env.safe, 2**40, amt, bound, 0)
            fn = "exactInputSingle" if kind == "eis" else "exactOutputSingle"
            return PolicyCall(v3, fsel(f"{fn}({T8})") + encode([T8], [args]))
        if kind in ("ei", "eo"):
            hops = [a, b] if kind == "ei" else [b, a]
            path = (
                bytes.fromhex(tok[hops[0]][2:])
                + (500).to_bytes(3, "big")
                + bytes.fromhex(tok[hops[1]][2:])
            )
            fn = "exactInput" if kind == "ei" else "exactOutput"
            return PolicyCall(
                v3, fsel(f"{fn}({T5})") + encode([T5], [(path, env.safe, 2**40, amt, bound)])
            )
        fn = "swapExactTokensForTokens" if kind == "v2in" else "swapTokensForExactTokens"
        sig = f"{fn}(uint256,uint256,address[],address,uint256)"
        return PolicyCall(
            v2, fsel(sig) + encode(V2T, [amt, bound, [tok[a], tok[b]], env.safe, 2**40])
        )

    swaps = st.builds(
        swap, st.sampled_from(["eis", "eos", "ei", "eo", "v2in", "v2out"]), pair, amount, off_bps
    )

    def fill(
        key: str, series: SeriesTerms, side: int, price_usd: int, taker_is_safe: bool, nonce: int
    ) -> PolicyCall:
        k = MARKET_MAKER_KEY if key == "maker" else "0x" + "7e" * 32
        maker = Account.from_key(k).address
        q = OptionQuote(maker, env.safe if taker_is_safe else "0x" + "00" * 20, series.series_id,
                        MakerSide(side), price_usd * 10**6, 10**18, env.now() + 3600, nonce)  # fmt: skip
        return PolicyCall(
            market, oc.fill_quotes([(sign_quote(q, k, env.policy.chain_id, market), 10**17)])
        )

    # spot 3000, put 2800: intrinsic 0, buy cap 600 (20% of spot)
    fills = st.builds(
        fill, st.sampled_from(["maker", "maker", "maker", "thief"]),
        st.sampled_from([listed, listed, listed, stranger]), st.sampled_from([0, 1]),
        st.one_of(st.integers(0, 700), st.sampled_from([599, 600, 601, 10**9])),
        st.sampled_from([True, True, True, False]), st.integers(1, 10**6),
    )  # fmt: skip
    deposits = st.builds(
        lambda t, to, usd: PolicyCall(escrow, fsel("deposit(address,address,uint256)") + encode(
            ["address", "address", "uint256"], [tok[t], to, units(t, Decimal(usd))])),
        st.sampled_from(["USDC", "WETH"]), st.sampled_from([bridge_to, bridge_to, env.operator.address]),
        st.sampled_from([100, 10_000]),
    )  # fmt: skip
    approvals = st.builds(
        lambda t, sp, amt: approve(tok[t], sp, amt),
        st.sampled_from(["USDC", "WETH"]), st.sampled_from([v3, v2, market, escrow, env.operator.address]),
        st.sampled_from([0, 10**6, 10**30]),
    )  # fmt: skip
    kinds = st.one_of(
        swaps.map(lambda c: ("swap", c)), swaps.map(lambda c: ("swap", c)),
        fills.map(lambda c: ("fill", c)), deposits.map(lambda c: ("deposit", c)),
        approvals.map(lambda c: ("approve", c)),
    )  # fmt: skip

    # the Safe can really trade USDC and WETH, so allowed swaps execute and the value guard runs
    fund(env.deployer, m, env.safe, {"WETH": Decimal(100)})
    for t, amt in (("USDC", 10**12), ("WETH", 100 * 10**18)):
        for spender in (v3, v2):
            assert env.mined([approve(tok[t], spender, amt)]) == 1
    probe = [swap("eis", ("USDC", "WETH"), Decimal(10), 0)]
    ctx = env.context(probe)  # one reading: eth_calls below change nothing
    seen: Counter[tuple[str, bool]] = Counter()
    codes: Counter[str] = Counter()
    executed: Counter[str] = Counter()  # allowed AND the target really ran (value guard measured)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), derandomize=not os.environ.get("POLICY_DIFF_RANDOM"))  # fmt: skip
    @given(kinds)
    def run(kind_call: tuple[str, PolicyCall]) -> None:
        kind, call = kind_call
        # fills need their series read, deposits their bridge fee
        c = ctx if kind not in ("fill", "deposit") else env.context([call])
        off = evaluate(env.policy, call, c)
        on = env.onchain([call])
        on_allowed = (
            on is None or on == Status.EXECUTION_FAILED
        )  # the policy passed; the target reverted
        seen[(kind, off.allowed)] += 1
        executed[kind] += on is None
        codes[off.code if not off.allowed else "allow"] += 1
        assert off.allowed == on_allowed, (kind, off, on)
        if not off.allowed:
            assert on is not None and off.code == on.code, (kind, off, on)

    run()
    total = sum(seen.values())
    allowed = sum(n for (_k, ok), n in seen.items() if ok)
    print(
        f"\ndifferential (oracle rules): {total} calls, {allowed / total:.0%} allowed, "
        f"executed {dict(executed)}, {dict(codes)}"
    )
    assert executed["swap"] > 0  # swaps that ran, so the module's value guard judged them too
    assert allowed / total >= 0.30, (allowed, total, codes)
    for code in ("POLICY_PRICE_OUT_OF_BOUNDS", "POLICY_COUNTERPARTY_NOT_ALLOWED", "POLICY_PREMIUM_OUT_OF_BOUNDS",
                 "POLICY_TAKER_NOT_SAFE", "POLICY_SERIES_NOT_ALLOWED", "POLICY_PARAM_NOT_IN_SET"):  # fmt: skip
        assert codes[code] > 0, (code, codes)
    for kind in ("swap", "fill", "deposit", "approve"):
        assert seen[(kind, True)] > 0 and seen[(kind, False)] > 0, (kind, seen)
