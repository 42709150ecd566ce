"""The key tests: a 4-leg condor plus its delta hedge executes in ONE Safe transaction; when
any leg's quote is stale, forged, tampered, over size, replayed or for another series, no leg
executes and the Safe's balances are unchanged; bad input is journaled with its code."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from eth_abi import decode

from agent.algos.multileg import InsufficientFundsError, MultilegExecutor
from agent.deploy.devworld import DEV_KEYS, MARKET_MAKER_KEY
from agent.errors import PolicyDeniedError, ValidationError
from agent.model import Side
from agent.strategies import iron_condor
from agent.venues.options import calldata
from agent.venues.options.eip712 import SignedQuote, sign_quote
from agent.venues.options.errors import ExecutionRevertedError, QuoteRejectedError
from agent.venues.options.events import MultilegExecuted, OptionsQuoteRejected
from agent.wallet.multisend import Call

from .options_it_helpers import safe_nonce, snapshot

pytestmark = pytest.mark.integration


def _series_ids(ex: MultilegExecutor, strategy) -> list[int]:
    from agent.venues.options.series import terms_for

    feed = ex.manifest.address("PriceFeedWETH")
    return [terms_for(leg.option, ex.manifest, feed=feed).series_id for leg in strategy.legs]


def _events(journal, cls) -> list:
    return [r.event for r in journal.read_all() if isinstance(r.event, cls)]


async def test_condor_and_hedge_in_one_transaction(options_world, executor_parts):
    ex, chain, journal = executor_parts
    condor = options_world.condor(Decimal(2))
    ids = _series_ids(ex, condor)
    before = await snapshot(chain, ex.manifest, options_world.safe, ids)
    nonce_before = await chain.rpc.get_transaction_count(chain.address)

    plan = await ex.plan(condor)
    assert plan.max_loss is not None and Decimal(0) < plan.max_loss < Decimal(400)  # 2 x 200 wide
    assert plan.net_premium > 0  # a short condor is a credit
    assert plan.greeks.vega < 0 and plan.greeks.gamma < 0
    result = await ex.execute(plan)

    assert await chain.rpc.get_transaction_count(chain.address) == nonce_before + 1  # ONE tx
    after = await snapshot(chain, ex.manifest, options_world.safe, ids)
    amount = 2 * 10**18
    for leg, sid in zip(condor.legs, ids, strict=True):
        if leg.side is Side.BUY:
            assert after[f"long:{sid:#x}"] == amount
        else:
            assert after[f"short:{sid:#x}"] == amount
    # full collateral sits in the market: the Safe's (2 x 2800 USDC short put, 2 WETH short
    # call) and the maker's for the wings it wrote (2 x 2600 USDC put, 2 WETH call)
    assert after["market_usdc"] - before["market_usdc"] == (5600 + 5200) * 10**6
    assert after["market_weth"] - before["market_weth"] == 4 * 10**18
    # the skewed surface leaves the condor with some delta: the hedge ran in the same tx
    assert result.hedge is not None and result.hedge == plan.hedge
    usdc_premium = int(result.net_premium.scaleb(6))
    hedge_usdc = after["USDC"] - (before["USDC"] + usdc_premium - 5600 * 10**6)
    if result.hedge is None:
        assert hedge_usdc == 0
    elif result.hedge.side is Side.SELL:
        assert hedge_usdc >= result.hedge.limit
    else:
        assert 0 < -hedge_usdc <= result.hedge.limit
    assert [e.tx_hash for e in _events(journal, MultilegExecuted)] == [result.tx_hash]


class TamperingRfq:
    """Wraps the real RFQ client and spoils one leg's quote the way an attacker or a slow
    maker would."""

    def __init__(self, inner, leg: int, how: str, chain_now: int, replay: SignedQuote | None):
        self.inner, self.leg, self.how, self.now, self.replay = inner, leg, how, chain_now, replay

    async def request(self, series, side, amount, taker, *, leg=None) -> SignedQuote:
        sq = await self.inner.request(series, side, amount, taker, leg=leg)
        if leg != self.leg:
            return sq
        q = sq.quote
        resign = lambda q2, key=MARKET_MAKER_KEY: sign_quote(q2, key, sq.chain_id, sq.market)  # noqa: E731
        if self.how == "stale":
            return resign(replace(q, expiry=self.now - 1))
        if self.how == "forged":
            forged = resign(q, DEV_KEYS[9])
            return replace(forged, quote=q)  # claims to be the maker's
        if self.how == "tampered":
            return replace(
                sq, quote=replace(q, price=q.price // 2 if side is Side.BUY else q.price * 2)
            )
        if self.how == "over_size":
            return resign(replace(q, size=amount - 1))
        if self.how == "mismatched_series":
            return resign(replace(q, series_id=q.series_id ^ 1))
        if self.how == "replayed":
            assert self.replay is not None
            return self.replay
        raise AssertionError(self.how)


@pytest.mark.parametrize(
    ("how", "code"),
    [
        ("stale", "QUOTE_EXPIRED"),
        ("forged", "QUOTE_FORGED"),
        ("tampered", "QUOTE_FORGED"),
        ("over_size", "QUOTE_OVER_SIZE"),
        ("mismatched_series", "SERIES_MISMATCH"),
        ("replayed", "QUOTE_REPLAYED"),
    ],
)
async def test_one_bad_leg_means_no_leg_executes(options_world, executor_parts, how, code):
    ex, chain, journal = executor_parts
    condor = options_world.condor()
    ids = _series_ids(ex, condor)
    replay = None
    if how == "replayed":
        # fill leg 2 alone first, then offer the very same signed quote again
        single = iron_condor(
            "WETH",
            "USDC",
            (Decimal(2600), Decimal(2800), Decimal(3200), Decimal(3400)),
            options_world.expiry,
            Decimal(1),
        )
        plan = await ex.plan(single)
        await ex.execute(plan)
        replay = next(
            sq for sq, f in zip(plan.quotes, plan.legs, strict=True) if f.series_id == ids[2]
        )
    before = await snapshot(chain, ex.manifest, options_world.safe, ids)
    safe_nonce_before = await safe_nonce(chain, options_world.safe)
    sent_before = await chain.rpc.get_transaction_count(chain.address)
    ex.rfq = TamperingRfq(ex.rfq, 2, how, await chain.now(), replay)

    with pytest.raises(QuoteRejectedError) as e:
        await ex.run(condor)
    assert e.value.code == code and e.value.leg == 2

    assert await snapshot(chain, ex.manifest, options_world.safe, ids) == before
    assert await safe_nonce(chain, options_world.safe) == safe_nonce_before
    assert await chain.rpc.get_transaction_count(chain.address) == sent_before  # nothing sent
    rejected = _events(journal, OptionsQuoteRejected)
    assert rejected and rejected[-1].code == code and rejected[-1].leg == 2


async def test_onchain_batch_is_all_or_nothing(options_world, executor_parts):
    """Bypass our off-chain checks: a batch whose LAST leg carries a forged signature is sent
    anyway (explicit gas, no estimate). The market refuses it, the whole Safe transaction
    reverts, and the first three legs and the approvals are undone."""
    ex, chain, _journal = executor_parts
    condor = options_world.condor()
    ids = _series_ids(ex, condor)
    plan = await ex.plan(condor)
    before = await snapshot(chain, ex.manifest, options_world.safe, ids)

    fill_idx = next(i for i, c in enumerate(plan.calls) if c.data[:4] == calldata.FILL_QUOTES)
    (orders,) = decode([f"{calldata.ORDER_ABI}[]"], plan.calls[fill_idx].data[4:])
    q, _sig, amount = orders[-1]
    bad = sign_quote(plan.quotes[0].quote, DEV_KEYS[9], chain.chain_id, ex.market).signature
    orders = [*orders[:-1], (q, bad, amount)]
    from eth_abi import encode

    forged_fill = calldata.FILL_QUOTES + encode([f"{calldata.ORDER_ABI}[]"], [orders])
    calls = list(plan.calls)
    calls[fill_idx] = Call(ex.market, forged_fill)
    res = await ex.executor.execute(calls, gas=3_000_000)
    assert res.status == 0
    assert await snapshot(chain, ex.manifest, options_world.safe, ids) == before


async def test_insufficient_collateral_is_refused_before_signing(options_world, executor_parts):
    ex, chain, journal = executor_parts
    big = options_world.condor(Decimal(100))  # 100 x 2800 USDC > the Safe's 200k
    ids = _series_ids(ex, big)
    before = await snapshot(chain, ex.manifest, options_world.safe, ids)
    sent_before = await chain.rpc.get_transaction_count(chain.address)
    with pytest.raises(InsufficientFundsError) as e:
        await ex.run(big)
    assert e.value.code == "INSUFFICIENT_COLLATERAL" and "USDC" in str(e.value)
    assert await snapshot(chain, ex.manifest, options_world.safe, ids) == before
    assert await chain.rpc.get_transaction_count(chain.address) == sent_before
    assert _events(journal, OptionsQuoteRejected)[-1].code == "INSUFFICIENT_COLLATERAL"


async def test_unlisted_series_and_max_loss_limit(options_world, executor_parts):
    ex, _chain, journal = executor_parts
    odd = iron_condor(
        "WETH",
        "USDC",
        (Decimal(2500), Decimal(2800), Decimal(3200), Decimal(3400)),
        options_world.expiry,
        Decimal(1),
    )
    with pytest.raises(ValidationError) as e:
        await ex.run(odd)
    assert e.value.code == "SERIES_MISMATCH" and "legs[0]" in str(e.value)
    ex.cfg.max_loss_limit = Decimal(10)
    with pytest.raises(QuoteRejectedError) as e2:
        await ex.run(options_world.condor())
    assert e2.value.code == "MAX_LOSS_LIMIT"
    codes = [ev.code for ev in _events(journal, OptionsQuoteRejected)]
    assert codes == ["SERIES_MISMATCH", "MAX_LOSS_LIMIT"]


async def test_replayed_fill_reverts_onchain(options_world, executor_parts):
    """The same executed batch sent twice: the signing policy's guard knows the quotes'
    nonces are used (OptionsMarket.nonceBitmap) and refuses it before signing; without the
    guard the market refuses the used nonces on-chain."""
    ex, _chain, _journal = executor_parts
    plan = await ex.plan(options_world.condor())
    await ex.execute(plan)
    with pytest.raises(PolicyDeniedError) as e:
        await ex.execute(plan)
    assert e.value.code == "POLICY_QUOTE_NONCE_USED"
    ex.executor.guard = None
    with pytest.raises(ExecutionRevertedError):
        await ex.execute(plan)
