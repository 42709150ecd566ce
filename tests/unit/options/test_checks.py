from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account

from agent.model import Side
from agent.model.decisions import Deny
from agent.venues.options.checks import LegRequest, QuoteCheckContext, check_all, check_quote
from agent.venues.options.eip712 import ZERO_ADDRESS, MakerSide, OptionQuote, sign_quote

from .helpers import CHAIN_ID, MAKER_KEY, MARKET, NOW, OTHER_KEY, SAFE, call_terms, put_terms

MAKER = Account.from_key(MAKER_KEY).address
CTX = QuoteCheckContext(CHAIN_ID, MARKET, SAFE, NOW, min_validity_s=10, price_tolerance_bps=500)


def _req(side=Side.BUY, amount=10**18, model=100 * 10**6, terms=None) -> LegRequest:
    return LegRequest(0, terms or put_terms(), side, amount, model)


def _signed(req: LegRequest, key=MAKER_KEY, **kw):
    q = OptionQuote(
        maker=Account.from_key(key).address, taker=SAFE, series_id=req.series.series_id,
        side=MakerSide.for_taker(req.side), price=kw.pop("price", req.model_price),
        size=kw.pop("size", req.amount), expiry=kw.pop("expiry", NOW + 30), nonce=kw.pop("nonce", 1),
    )  # fmt: skip
    q = replace(q, **kw)
    return sign_quote(q, key, CHAIN_ID, MARKET)


def _code(d) -> str:
    assert isinstance(d, Deny), d
    return d.code


def test_good_quote_is_allowed():
    req = _req()
    assert check_quote(_signed(req), req, CTX).allowed
    open_taker = _signed(req, taker=ZERO_ADDRESS)
    assert check_quote(open_taker, req, CTX).allowed


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda r: {"expiry": NOW + 5}, "QUOTE_EXPIRED"),
        (lambda r: {"size": r.amount - 1}, "QUOTE_OVER_SIZE"),
        (lambda r: {"series_id": call_terms().series_id}, "SERIES_MISMATCH"),
        (lambda r: {"side": MakerSide.MAKER_BUYS}, "SIDE_MISMATCH"),
        (lambda r: {"taker": "0x" + "99" * 20}, "QUOTE_TAKER"),
        (lambda r: {"price": r.model_price * 106 // 100}, "QUOTE_OFF_MODEL"),
    ],
)
def test_bad_quote_is_denied_with_its_code(mutate, code):
    req = _req()
    assert _code(check_quote(_signed(req, **mutate(req)), req, CTX)) == code


def test_forged_and_tampered_quotes_are_denied():
    req = _req()
    forged = _signed(req, key=OTHER_KEY)
    forged = replace(forged, quote=replace(forged.quote, maker=MAKER))  # claims to be MAKER
    assert _code(check_quote(forged, req, CTX)) == "QUOTE_FORGED"
    good = _signed(req)
    tampered = replace(good, quote=replace(good.quote, price=good.quote.price - 1))
    assert _code(check_quote(tampered, req, CTX)) == "QUOTE_FORGED"
    other_market = replace(good, market="0x" + "77" * 20)
    assert _code(check_quote(other_market, req, CTX)) == "QUOTE_FORGED"


def test_sell_side_tolerance_and_replay():
    req = _req(side=Side.SELL)
    assert check_quote(_signed(req, price=req.model_price * 96 // 100), req, CTX).allowed
    low = _signed(req, price=req.model_price * 94 // 100)
    assert _code(check_quote(low, req, CTX)) == "QUOTE_OFF_MODEL"
    used = replace(CTX, used_nonces=frozenset({(MAKER, 1)}))
    assert _code(check_quote(_signed(req), req, used)) == "QUOTE_REPLAYED"


def test_per_leg_limit_and_policy_hook():
    req = _req()
    assert _code(check_quote(_signed(req), req, replace(CTX, max_amount=10**17))) == (
        "QUOTE_OVER_SIZE"
    )

    def no_puts(r, sq, ctx):
        return Deny("POLICY_NO_PUTS", "puts are not allowed", "policy.no_puts")

    assert _code(check_quote(_signed(req), req, replace(CTX, policy=(no_puts,)))) == (
        "POLICY_NO_PUTS"
    )


def test_check_all_refuses_nonce_reused_across_legs():
    r0, r1 = _req(), replace(_req(terms=call_terms()), index=1)
    ds = check_all([_signed(r0, nonce=5), _signed(r1, nonce=5)], [r0, r1], CTX)
    assert ds[0].allowed
    assert _code(ds[1]) == "QUOTE_REPLAYED"
