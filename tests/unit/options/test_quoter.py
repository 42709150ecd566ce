from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account import Account

from agent.marketmaker import InventoryLimits, MakerConfig, Quoter, QuoteRefused, Rfq
from agent.model import Side
from agent.strategies import VolSurface
from agent.venues.options.checks import LegRequest, QuoteCheckContext, check_quote
from agent.venues.options.eip712 import MakerSide, recover_signer

from .helpers import CHAIN_ID, MAKER_KEY, MARKET, NOW, SAFE, call_terms, put_terms

D = Decimal
MAKER = Account.from_key(MAKER_KEY).address


def _cfg(**kw) -> MakerConfig:
    base = dict(
        key=MAKER_KEY, chain_id=CHAIN_ID, market=MARKET,
        surface=VolSurface(atm=0.6, skew=0.0, smile=0.0),
        limits=InventoryLimits(max_position=D(10), max_delta=D(5)), spread_bps=200,
    )  # fmt: skip
    base.update(kw)
    return MakerConfig(**base)


async def _spot(_terms) -> Decimal:
    return D(3000)


def _quoter(**kw) -> Quoter:
    hedger = kw.pop("hedger", None)
    filled = kw.pop("is_filled", None)
    return Quoter(_cfg(**kw), _spot, hedger=hedger, is_filled=filled, clock=lambda: NOW)


async def test_quote_is_signed_priced_around_model_and_passes_taker_checks():
    qt = _quoter()
    ask = await qt.quote(Rfq(put_terms(), Side.BUY, 10**18, SAFE))
    bid = await qt.quote(Rfq(put_terms(), Side.SELL, 10**18, SAFE))
    assert ask.quote.side is MakerSide.MAKER_SELLS and bid.quote.side is MakerSide.MAKER_BUYS
    assert bid.quote.price < ask.quote.price
    _, mid = qt.price(Rfq(put_terms(), Side.BUY, 10**18), _view())
    mid_units = int(mid * 10**6)
    assert bid.quote.price < mid_units < ask.quote.price
    assert recover_signer(ask.digest(), ask.signature) == MAKER
    assert ask.quote.nonce != bid.quote.nonce
    ctx = QuoteCheckContext(CHAIN_ID, MARKET, SAFE, NOW)
    req = LegRequest(0, put_terms(), Side.BUY, 10**18, mid_units)
    assert check_quote(ask, req, ctx).allowed


def _view():
    from agent.strategies import MarketView

    return MarketView(D(3000), VolSurface(atm=0.6, skew=0.0, smile=0.0), float(NOW))


async def test_position_limit_refuses():
    qt = _quoter(limits=InventoryLimits(max_position=D(2), max_delta=D(100)))
    await qt.quote(Rfq(put_terms(), Side.BUY, 2 * 10**18))
    with pytest.raises(QuoteRefused) as e:
        await qt.quote(Rfq(put_terms(), Side.BUY, 1))
    assert e.value.code == "MM_POSITION_LIMIT"


async def test_delta_limit_refuses_without_hedger_and_hedges_with_one():
    limits = InventoryLimits(max_position=D(100), max_delta=D(1))
    qt = _quoter(limits=limits)
    with pytest.raises(QuoteRefused) as e:
        await qt.quote(Rfq(call_terms(), Side.BUY, 5 * 10**18))  # maker short 5 calls: delta ~ -2.6
    assert e.value.code == "MM_DELTA_LIMIT"

    hedges: list[Decimal] = []

    async def hedger(_terms, delta: Decimal) -> None:
        hedges.append(delta)

    qt = _quoter(limits=limits, hedger=hedger)
    await qt.quote(Rfq(call_terms(), Side.BUY, 5 * 10**18))
    assert len(hedges) == 1 and hedges[0] > D(2)  # buys the underlying back
    assert abs(await qt.book_delta(_view(), call_terms().underlying)) < D("0.0001")
    assert await qt.book_delta(_view(), "0x" + "ab" * 20) == 0  # other underlyings are apart


async def test_expired_quotes_release_or_book_inventory():
    filled_nonces: set[int] = set()

    async def is_filled(n: int) -> bool:
        return n in filled_nonces

    now = [NOW]
    qt = Quoter(
        _cfg(limits=InventoryLimits(max_position=D(1), max_delta=D(100))), _spot,
        is_filled=is_filled, clock=lambda: now[0],
    )  # fmt: skip
    a = await qt.quote(Rfq(put_terms(), Side.BUY, 10**18))
    now[0] += 60  # the quote expired unfilled: the maker may quote again
    b = await qt.quote(Rfq(put_terms(), Side.BUY, 10**18))
    assert a.quote.nonce not in qt.inventory.outstanding
    filled_nonces.add(b.quote.nonce)
    now[0] += 60  # this one filled: now the position is at the limit
    with pytest.raises(QuoteRefused):
        await qt.quote(Rfq(put_terms(), Side.BUY, 1))
    assert qt.inventory.positions[put_terms().series_id] == -(10**18)


async def test_bad_requests_are_refused():
    qt = _quoter()
    with pytest.raises(QuoteRefused) as e:
        await qt.quote(Rfq(put_terms(expiry=NOW + 60), Side.BUY, 10**18))
    assert e.value.code == "MM_SERIES_EXPIRED"
    with pytest.raises(QuoteRefused) as e:
        await qt.quote(Rfq(put_terms(), Side.BUY, 0))
    assert e.value.code == "MM_BAD_REQUEST"
