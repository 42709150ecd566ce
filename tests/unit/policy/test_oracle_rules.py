"""The oracle-priced rules, pure: the schema's refusals, the compiled OP_CHECK / setOracle /
setValueGuard, and the off-chain mirrors of the checkers and the value guard against fixed
feed readings (the on-chain equality is in tests/integration/policy)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as fsel
from hypothesis import given
from hypothesis import strategies as st

from agent.deploy.devworld import MARKET_MAKER_KEY, address_of
from agent.policy import PolicyCall, PolicyContext, compile_policy, diff, evaluate, load_policy
from agent.policy.checkers import (
    E18,
    FeedRead,
    SeriesInfo,
    Window,
    decode_fills,
    decode_swap,
    premium_bounds,
    value_e18,
)
from agent.policy.compiler import SET_ORACLE, SET_SCOPE, SET_VALUE_GUARD, ModuleConfig
from agent.policy.errors import PolicyFileError, UnsafePolicyError
from agent.policy.install import bind
from agent.policy.model import CheckerKind, Op
from agent.policy.schema import parse_policy_text

from .conftest import HEADER, MANIFEST, OPERATOR, SAFE, addr, write

L1 = Path(__file__).resolve().parents[3] / "agent" / "deploy" / "policies" / "l1.toml"
ROUTER, V2, WETH, USDC, DAI, WBTC = (addr(b) for b in (0x11, 0x22, 0x44, 0x55, 0x66, 0x77))
MARKET, ESCROW = addr(0xA1), addr(0xA2)
MAKER = address_of(MARKET_MAKER_KEY).lower()
NOW = 1_800_000_000
USD = {WETH: 3000, USDC: 1, DAI: 1, WBTC: 90_000}
FEEDS = {t: FeedRead(p * 10**8, NOW - 60, 8) for t, p in USD.items()}
T8 = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
QUOTE_T = "((address,address,uint256,uint8,uint256,uint256,uint64,uint256),bytes,uint256)[]"
FILL = fsel(f"fillQuotes({QUOTE_T})")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The dev L1 policy (what the demo installs) against the unit manifest."""
    d = tmp_path_factory.mktemp("dev")
    text = bind(
        L1.read_text(),
        {"SAFE": SAFE, "MODULE": addr(0xAB), "GUARDIAN": addr(0xAC), "OPERATOR": OPERATOR,
         "BRIDGE_RECIPIENT": addr(0xAD)},
    )  # fmt: skip
    return load_policy(write(d, text), MANIFEST)


def ctx(**kw) -> PolicyContext:  # type: ignore[no-untyped-def]
    base = dict(operator=OPERATOR, chain_id=MANIFEST.chain_id, now=NOW, feeds=FEEDS)
    base.update(kw)
    return PolicyContext(**base)  # type: ignore[arg-type]


def eis(
    amount_in: int, min_out: int, tin: str = USDC, tout: str = WETH, fee: int = 500
) -> PolicyCall:
    args = (tin, tout, fee, SAFE, 2**40, amount_in, min_out, 0)
    return PolicyCall(ROUTER, fsel(f"exactInputSingle({T8})") + encode([T8], [args]))


def eos(amount_out: int, max_in: int) -> PolicyCall:
    args = (USDC, WETH, 500, SAFE, 2**40, amount_out, max_in, 0)
    return PolicyCall(ROUTER, fsel(f"exactOutputSingle({T8})") + encode([T8], [args]))


def v2(amount_in: int, min_out: int, path: list[str]) -> PolicyCall:
    types = ["uint256", "uint256", "address[]", "address", "uint256"]
    sel = fsel("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)")
    return PolicyCall(V2, sel + encode(types, [amount_in, min_out, path, SAFE, 2**40]))


# ------------------------------------------------------------------------------ schema
def test_dev_policy_compiles_every_oracle_rule(dev) -> None:  # type: ignore[no-untyped-def]
    kinds = {r.sig.name: r.checker.kind for r in dev.rules.values() if r.checker}
    assert kinds == {
        "exactInputSingle": CheckerKind.SWAP_PRICE, "exactOutputSingle": CheckerKind.SWAP_PRICE,
        "exactInput": CheckerKind.SWAP_PRICE, "exactOutput": CheckerKind.SWAP_PRICE,
        "swapExactTokensForTokens": CheckerKind.SWAP_PRICE,
        "swapTokensForExactTokens": CheckerKind.SWAP_PRICE,
        "fillQuotes": CheckerKind.OPTIONS_FILL, "deposit": CheckerKind.BRIDGE_DEPOSIT,
    }  # fmt: skip
    fill = next(r for r in dev.rules.values() if r.sig.name == "fillQuotes")
    ck = fill.checker
    assert (ck.max_time_value_bps, ck.min_days, ck.max_days) == (2000, 1, 120)
    p = ck.param
    assert (p & 0xFFFFFFFF, p >> 32 & 0xFFFFFFFF) == (ck.counterparty_set, ck.asset_set)
    assert (p >> 64 & 0xFFFF, p >> 80 & 0xFF, p >> 88 & 0xFF) == (2000, 1, 120)
    # the OP_CHECK is the scope's last condition: value = checker | param << 160
    last = fill.conditions[-1]
    assert last.op == Op.CHECK and last.word == last.aux == 0
    assert last.value == int(MANIFEST.contracts["OptionsFillChecker"], 16) | p << 160
    swap = next(r for r in dev.rules.values() if r.sig.name == "exactInputSingle")
    assert swap.conditions[-1].value >> 160 == 200  # the role's max_slippage_bps
    assert dev.value_guard.max_loss_bps == 300 and len(dev.value_guard.tracked) == 4


def test_compiler_emits_oracles_value_guard_and_the_sets_checkers_read(dev) -> None:  # type: ignore[no-untyped-def]
    cfg = compile_policy(dev)
    changes = diff(ModuleConfig(), cfg, dev)
    sels = [c.data[:4] for c in changes]
    assert sels.count(SET_ORACLE) == 4 and sels.count(SET_VALUE_GUARD) == 1
    # oracles and the guard come before the scopes whose checkers read them
    assert max(i for i, s in enumerate(sels) if s == SET_ORACLE) < sels.index(SET_SCOPE)
    fill = next(r for r in dev.rules.values() if r.sig.name == "fillQuotes").checker
    assert {fill.counterparty_set, fill.asset_set} <= set(cfg.sets)
    assert cfg.sets[fill.counterparty_set] == {int(MAKER, 16)}
    assert diff(cfg, cfg, dev) == []
    off = diff(cfg, ModuleConfig(operators=cfg.operators), dev)
    assert any(c.data[:4] == SET_VALUE_GUARD and "off" in c.text for c in off)
    assert sum(c.data[:4] == SET_ORACLE and c.kind == "-" for c in off) == 4


@pytest.mark.parametrize(
    ("body", "ack", "needle"),
    [
        ('target = "SwapRouter"\nfunction = "exactInputSingle((address tokenIn,address tokenOut,uint24 fee,address recipient,uint256 deadline,uint256 amountIn,uint256 amountOutMinimum,uint160 sqrtPriceLimitX96) params)"\n',
         "no-price-bound", "no price bound"),
        ('target = "UniswapV2Router02"\nfunction = "swapExactETHForTokens(uint256 amountOutMin,address[] path,address to,uint256 deadline)"\n',
         "no-price-bound", "no on-chain price bound"),
        ('target = "OptionsMarket"\nfunction = "fillQuotes(((address maker,address taker,uint256 seriesId,uint8 side,uint256 price,uint256 size,uint64 expiry,uint256 nonce) quote,bytes signature,uint256 amount)[] orders)"\n',
         "no-counterparty-set", "any maker"),
    ],
)  # fmt: skip
def test_unbounded_swaps_and_fills_need_an_acknowledgement(
    tmp_path: Path, body: str, ack: str, needle: str
) -> None:
    guarded = HEADER.replace(
        "[[roles]]",
        '[oracles]\nUSDC = { feed = "PriceFeedUSDC", decimals = 8, max_age = "1d" }\n'
        'WETH = { feed = "PriceFeedWETH", decimals = 8, max_age = "1h" }\n'
        '[value_guard]\nassets = ["USDC", "WETH"]\nmax_loss_bps = 300\nbudget_bps = 50\nperiod = "1d"\n'
        "[[roles]]",
    )
    p = write(tmp_path, guarded + "[[roles.rules]]\n" + body)
    with pytest.raises(UnsafePolicyError, match=needle) as e:
        load_policy(p, MANIFEST)
    assert e.value.code == "POLICY_UNSAFE" and e.value.line is not None
    lines = body.split("\n")
    lines.insert(2, f'acknowledge = ["{ack}"]')
    write(tmp_path, guarded + "[[roles.rules]]\n" + "\n".join(lines))
    assert load_policy(p, MANIFEST).rules
    # and without a value guard, the same grant also needs "no-value-guard"
    write(tmp_path, HEADER + "[[roles.rules]]\n" + "\n".join(lines))
    with pytest.raises(UnsafePolicyError, match="no \\[value_guard\\]"):
        load_policy(p, MANIFEST)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('kill_switch = "yes"\n', "valid boolean"),
        ('[allowances.a]\ntoken = "USDC"\namount = 0.1\nperiod = "1d"\n', "write the amount as a string"),
        ('[oracles]\nWETH = { feed = "PriceFeedWETH", max_age = "1h" }\n', "decimals"),
        ('[oracles]\nWETH = { feed = "PriceFeedWETH", decimals = "8", max_age = "1h" }\n', "valid integer"),
        ('[value_guard]\nassets = ["WETH"]\nmax_loss_bps = "300"\nbudget_bps = 50\nperiod = "1d"\n', "valid integer"),
    ],
)  # fmt: skip
def test_strict_types(extra: str, needle: str) -> None:
    text = HEADER.split("[sets]")[0] + extra
    with pytest.raises(PolicyFileError, match=needle):
        parse_policy_text(text, "p.toml")


def test_value_guard_assets_need_oracles_and_allowance_tokens_tracked(tmp_path: Path) -> None:
    head = HEADER.split("[sets]")[0]
    p = write(
        tmp_path,
        head
        + '[value_guard]\nassets = ["WETH"]\nmax_loss_bps = 1\nbudget_bps = 1\nperiod = "1d"\n',
    )
    with pytest.raises(PolicyFileError, match="has no oracle"):
        load_policy(p, MANIFEST)
    write(tmp_path, head
          + '[allowances.u]\ntoken = "USDC"\namount = "1"\nperiod = "1d"\n'
          + '[oracles]\nWETH = { feed = "PriceFeedWETH", decimals = 8, max_age = "1h" }\n'
          + '[value_guard]\nassets = ["WETH"]\nmax_loss_bps = 1\nbudget_bps = 1\nperiod = "1d"\n')  # fmt: skip
    with pytest.raises(UnsafePolicyError, match="does not track it"):
        load_policy(p, MANIFEST)


def test_bad_checksum_refused(tmp_path: Path) -> None:
    bad = OPERATOR[:-4] + "0a6E"  # mixed case, not the checksum (0A6e)
    p = write(tmp_path, HEADER.replace(OPERATOR, bad))
    with pytest.raises(PolicyFileError, match="EIP-55"):
        load_policy(p, MANIFEST)
    write(tmp_path, HEADER.replace(OPERATOR, OPERATOR.lower()))
    assert load_policy(p, MANIFEST).operators


# ------------------------------------------------------------------------------ mirrors
def test_value_e18_and_feed_failures(dev) -> None:  # type: ignore[no-untyped-def]
    assert value_e18(dev, FEEDS, NOW, USDC, 5 * 10**6) == 5 * E18
    assert value_e18(dev, FEEDS, NOW, WETH, 10**18) == 3000 * E18
    cases = {
        "POLICY_FEED_STALE": FeedRead(3000 * 10**8, NOW - 45 * 86400 - 1, 8),
        "POLICY_FEED_INVALID": FeedRead(0, NOW, 8),
    }
    for code, read in cases.items():
        d = evaluate(dev, eis(3000 * 10**6, 10**18), ctx(feeds={**FEEDS, WETH: read}))
        assert d.code == code, d
    assert (
        evaluate(
            dev,
            eis(3000 * 10**6, 10**18),
            ctx(feeds={**FEEDS, WETH: FeedRead(3000 * 10**8, NOW + 1, 8)}),
        ).code
        == "POLICY_FEED_STALE"
    )
    assert (
        evaluate(
            dev,
            eis(3000 * 10**6, 10**18),
            ctx(feeds={**FEEDS, WETH: FeedRead(3000 * 10**18, NOW, 18)}),
        ).code
        == "POLICY_FEED_INVALID"
    )
    assert (
        evaluate(dev, eis(3000 * 10**6, 10**18), ctx(feeds={**FEEDS, WETH: None})).code
        == "POLICY_FEED_INVALID"
    )
    # exactly max_age old is still fresh
    edge = FeedRead(3000 * 10**8, NOW - 45 * 86400, 8)
    assert evaluate(dev, eis(3000 * 10**6, 10**18), ctx(feeds={**FEEDS, WETH: edge})).allowed


def test_swap_price_bound_at_its_edge(dev) -> None:  # type: ignore[no-untyped-def]
    # 3000 USDC -> WETH at 200 bps: min out >= 0.98 WETH exactly
    assert evaluate(dev, eis(3000 * 10**6, 98 * 10**16), ctx()).allowed
    d = evaluate(dev, eis(3000 * 10**6, 98 * 10**16 - 1), ctx())
    assert d.code == "POLICY_PRICE_OUT_OF_BOUNDS" and "200 bps" in d.reason
    # exact output: at most 3060 USDC for 1 WETH
    assert evaluate(dev, eos(10**18, 3060 * 10**6), ctx()).allowed
    assert evaluate(dev, eos(10**18, 3060 * 10**6 + 1), ctx()).code == "POLICY_PRICE_OUT_OF_BOUNDS"
    # V2, priced end to end; amountOutMin = 1 into any pool is refused
    assert (
        evaluate(dev, v2(10**6 * 10**6, 1, [USDC, DAI]), ctx()).code == "POLICY_PRICE_OUT_OF_BOUNDS"
    )
    assert evaluate(dev, v2(10**6, 98 * 10**16, [USDC, WETH, DAI]), ctx()).allowed


def test_decode_swap_every_selector() -> None:
    path = (
        bytes.fromhex(USDC[2:])
        + b"\0\x01\xf4"
        + bytes.fromhex(WETH[2:])
        + b"\0\x01\xf4"
        + bytes.fromhex(DAI[2:])
    )
    t5 = "(bytes,address,uint256,uint256,uint256)"
    ei = fsel(f"exactInput({t5})") + encode([t5], [(path, SAFE, 1, 7, 5)])
    eo = fsel(f"exactOutput({t5})") + encode([t5], [(path, SAFE, 1, 7, 9)])
    s = decode_swap(ei)
    assert (s.token_in, s.token_out, s.amount, s.bound, s.exact_out) == (USDC, DAI, 7, 5, False)
    s = decode_swap(eo)  # reversed path: first token is the output
    assert (s.token_in, s.token_out, s.amount, s.bound, s.exact_out) == (DAI, USDC, 7, 9, True)
    s = decode_swap(eis(3, 2).data)
    assert (s.token_in, s.token_out, s.amount, s.bound) == (USDC, WETH, 3, 2)
    for bad in (ei[:100], b"\x12\x34\x56\x78", v2(1, 1, [USDC]).data):
        with pytest.raises(ValueError):
            decode_swap(bad)


# options -------------------------------------------------------------------------------
def series(**kw) -> SeriesInfo:  # type: ignore[no-untyped-def]
    base = dict(underlying=WETH, quote_asset=USDC, collateral=USDC, feed=addr(0x81).lower(),
                strike=2800 * 10**6, cap=0, expiry=NOW + 30 * 86400, is_call=False, unit=10**18)  # fmt: skip
    base.update(kw)
    return SeriesInfo(**base)  # type: ignore[arg-type]


def fill(side: int, price: int, amount: int = 10**18, maker: str = MAKER, taker: str = SAFE,
         sid: int = 7, nonce: int = 1) -> PolicyCall:  # fmt: skip
    q = (maker, taker, sid, side, price, amount, NOW + 60, nonce)
    return PolicyCall(MARKET, FILL + encode([QUOTE_T], [[(q, b"\x01" * 65, amount)]]))


def test_options_fill_checks(dev) -> None:  # type: ignore[no-untyped-def]
    c = ctx(series={7: series()})
    # a put at 2800 with spot 3000: intrinsic 0; buy cap = 20% of spot = 600 USDC
    assert evaluate(dev, fill(1, 600 * 10**6), c).allowed
    assert evaluate(dev, fill(1, 600 * 10**6 + 1), c).code == "POLICY_PREMIUM_OUT_OF_BOUNDS"
    assert evaluate(dev, fill(1, 10**30, amount=1), c).code == "POLICY_PREMIUM_OUT_OF_BOUNDS"
    assert evaluate(dev, fill(0, 0), c).allowed  # selling for nothing: >= intrinsic 0
    attacker = addr(0xEE)
    assert evaluate(dev, fill(1, 1, maker=attacker), c).code == "POLICY_COUNTERPARTY_NOT_ALLOWED"
    assert evaluate(dev, fill(1, 1, taker="0x" + "00" * 20), c).code == "POLICY_TAKER_NOT_SAFE"
    for bad in (series(feed=addr(0xEF).lower()), series(underlying=DAI), series(unit=0),
                series(expiry=NOW + 3600), series(expiry=NOW + 121 * 86400)):  # fmt: skip
        assert evaluate(dev, fill(1, 1), ctx(series={7: bad})).code == "POLICY_SERIES_NOT_ALLOWED"
    # replays the agent can know are denied off-chain (the market would revert them)
    used = ctx(series={7: series()}, used_nonces=frozenset({(MAKER, 1)}))
    assert evaluate(dev, fill(1, 1), used).code == "POLICY_QUOTE_NONCE_USED"
    assert decode_fills(fill(1, 5, nonce=9).data)[0].nonce == 9


@given(st.integers(1000, 6000), st.integers(1000, 6000), st.booleans(), st.integers(0, 5000))
def test_premium_bounds_bracket_the_intrinsic_value(
    spot: int, strike: int, call: bool, tv: int
) -> None:
    s = series(strike=strike * 10**6, is_call=call, collateral=WETH if call else USDC)
    floor, cap = premium_bounds(s, spot * 10**6, tv)
    intrinsic = max((spot - strike) if call else (strike - spot), 0) * 10**6
    assert floor == intrinsic and floor <= cap
    assert cap <= (spot if call else strike) * 10**6  # never more than the option can pay


# value guard ---------------------------------------------------------------------------
def min98(usdc: int) -> int:
    """The least WETH out for ``usdc`` base units within 200 bps of 3000 USDC/WETH."""
    return -(-usdc * 98 * 10**10 // 3000)


def test_value_guard_per_execution_and_window(dev) -> None:  # type: ignore[no-untyped-def]
    bal = {USDC: 10_000_000 * 10**6}
    w = Window(NOW - 100, 1_000_000 * E18, 0)  # the day started at $1M: its budget is $10,000
    c = ctx(window=w, balances=bal)
    # a 1,000,000 USDC swap whose worst case (min out) loses 2% ($20,000): within 3%, not $10k
    d = evaluate(dev, eis(10**12, min98(10**12)), c)
    assert d.code == "POLICY_LOSS_BUDGET_EXCEEDED", d
    # the same with the expected amounts (a simulation): loses 0.3% = $1,000
    exp = {USDC: -(10**12), WETH: 999 * 10**18 * 1000 // 3000}
    assert evaluate(
        dev, eis(10**12, min98(10**12)), ctx(window=w, balances=bal, deltas=exp)
    ).allowed
    w = Window(NOW - 100, 10_000_000 * E18, 0)  # $10M: budget $100,000
    # a transfer out with nothing back is a 100% loss of what left
    lost = {USDC: -(10**6)}
    assert (
        evaluate(dev, eis(10**6, min98(10**6)), ctx(window=w, balances=bal, deltas=lost)).code
        == "POLICY_VALUE_LOSS_EXCEEDED"
    )
    # the window's losses so far count; a new window starts from the balances, losses reset
    spent = Window(NOW - 100, 10_000_000 * E18, 99_000 * E18)
    small = {USDC: -(100_000 * 10**6), WETH: 98 * 10**18 // 3}  # loses about $2,000
    call = eis(100_000 * 10**6, min98(100_000 * 10**6))
    assert (
        evaluate(dev, call, ctx(window=spent, balances=bal, deltas=small)).code
        == "POLICY_LOSS_BUDGET_EXCEEDED"
    )
    fresh = Window(NOW - 86400, 10_000_000 * E18, 99_000 * E18)
    assert evaluate(dev, call, ctx(window=fresh, balances=bal, deltas=small)).allowed


def test_options_and_bridge_credits_offset_what_leaves(dev) -> None:  # type: ignore[no-untyped-def]
    w = Window(NOW - 100, 10_000_000 * E18, 0)
    c = ctx(series={7: series()}, window=w, balances={USDC: 10**13})
    # buying a put for 100 USDC: 100 USDC leave, the position is credited at its price
    assert evaluate(dev, fill(1, 100 * 10**6), c).allowed
    # selling a 2800 put for 50 USDC: 2800 collateral out, 50 in, credit 2750: no loss
    assert evaluate(dev, fill(0, 50 * 10**6), c).allowed
    dep = fsel("deposit(address,address,uint256)") + encode(
        ["address", "address", "uint256"], [USDC, addr(0xAD), 10**6 * 10**6]
    )
    # credited net of the bridge fee (BridgeEscrow.feeFor), which is the only loss
    fee = {10**12: 10**9}  # 1,000 USDC on 1,000,000
    assert evaluate(dev, PolicyCall(ESCROW, dep), replace(c, bridge_fees=fee)).allowed
    huge = {10**12: 5 * 10**10}  # a 5% fee would be a loss over the 3% per-execution bound
    d = evaluate(dev, PolicyCall(ESCROW, dep), replace(c, bridge_fees=huge))
    assert d.code == "POLICY_VALUE_LOSS_EXCEEDED", d
    # without the fee read from the escrow the guard cannot price the credit: it refuses
    assert evaluate(dev, PolicyCall(ESCROW, dep), c).code == "POLICY_NO_REFERENCE_PRICE"


def test_finalizing_an_unproven_withdrawal_is_denied(dev) -> None:  # type: ignore[no-untyped-def]
    wid = "0x" + "ab" * 32
    call = PolicyCall(ESCROW, fsel("finalizeWithdrawal(bytes32)") + bytes.fromhex(wid[2:]))
    assert evaluate(dev, call, ctx(withdrawals={wid: (1, NOW - 1)})).allowed
    for status, release, needle in (
        (0, 0, "never proven"),
        (2, 0, "already finalized"),
        (1, NOW + 60, "challenge period"),
    ):
        d = evaluate(dev, call, ctx(withdrawals={wid: (status, release)}))
        assert d.code == "POLICY_WITHDRAWAL_NOT_PROVEN" and needle in d.reason, d


def test_the_options_venue_refuses_at_the_rfq_what_the_policy_would(dev) -> None:  # type: ignore[no-untyped-def]
    from agent.deploy.devworld import MARKET_MAKER_KEY as KEY
    from agent.model import Side
    from agent.venues.options.checks import LegRequest, QuoteCheckContext, signing_policy_rule
    from agent.venues.options.eip712 import MakerSide, OptionQuote, sign_quote
    from agent.venues.options.series import SeriesTerms

    terms = SeriesTerms(WETH, USDC, USDC, addr(0x81), 2800 * 10**6, 0, NOW + 30 * 86400, False)
    rule = signing_policy_rule(dev, FEEDS, NOW)
    qctx = QuoteCheckContext(MANIFEST.chain_id, MARKET, SAFE, NOW)
    req = LegRequest(0, terms, Side.BUY, 10**18, 300 * 10**6)

    def quote(price: int, key: str = KEY) -> object:
        q = OptionQuote(
            address_of(key),
            SAFE,
            terms.series_id,
            MakerSide.MAKER_SELLS,
            price,
            10**18,
            NOW + 60,
            1,
        )
        return sign_quote(q, key, MANIFEST.chain_id, MARKET)

    assert rule(req, quote(600 * 10**6), qctx).allowed
    d = rule(req, quote(600 * 10**6 + 1), qctx)
    assert d.code == "POLICY_PREMIUM_OUT_OF_BOUNDS", d
    assert rule(req, quote(10**6, "0x" + "7e" * 32), qctx).code == "POLICY_COUNTERPARTY_NOT_ALLOWED"


async def test_guard_pre_checks_the_value_guard_with_the_expected_amounts(dev) -> None:  # type: ignore[no-untyped-def]
    """PolicyGuard with a chain view (a fixed one here; agent.policy.onchain.ChainState in the
    signing path): the worst case the calldata allows, or the caller's expected amounts."""
    from agent.policy.guard import PolicyGuard, static_prices
    from agent.wallet.multisend import Call

    class View:
        async def read(self, calls):  # type: ignore[no-untyped-def]
            return {"feeds": FEEDS, "window": Window(NOW - 100, 1_000_000 * E18, 0),
                    "balances": {USDC: 10**12}}  # fmt: skip

    g = PolicyGuard(
        dev, operator=OPERATOR, safe=SAFE, chain_id=MANIFEST.chain_id,
        prices=static_prices({"WETH": 3000, "USDC": 1}), clock=lambda: NOW, chain=View(),
    )  # fmt: skip
    swap = eis(10**12, min98(10**12))  # worst case: $20,000 lost, the day's budget is $10,000
    calls = [Call(swap.to, swap.data)]
    assert (await g.check(calls)).code == "POLICY_LOSS_BUDGET_EXCEEDED"
    expected = {USDC: -(10**12), WETH: 333 * 10**18}  # a simulation: $1,000 lost
    assert (await g.check(calls, deltas=expected)).allowed
