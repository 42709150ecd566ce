from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from agent.venues.options.eip712 import (
    MakerSide,
    OptionQuote,
    SignedQuote,
    quote_digest,
    recover_signer,
    sign_quote,
)

from .helpers import CHAIN_ID, MAKER_KEY, MARKET, SAFE

MAKER = Account.from_key(MAKER_KEY).address


def _quote(**kw) -> OptionQuote:
    base = dict(
        maker=MAKER, taker=SAFE, series_id=2**255 + 7, side=MakerSide.MAKER_SELLS,
        price=123_456_789, size=10**18, expiry=1_800_000_060, nonce=42,
    )  # fmt: skip
    base.update(kw)
    return OptionQuote(**base)


def _typed(q: OptionQuote) -> dict:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Quote": [
                {"name": "maker", "type": "address"},
                {"name": "taker", "type": "address"},
                {"name": "seriesId", "type": "uint256"},
                {"name": "side", "type": "uint8"},
                {"name": "price", "type": "uint256"},
                {"name": "size", "type": "uint256"},
                {"name": "expiry", "type": "uint64"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "Quote",
        "domain": {
            "name": "AgentOptions",
            "version": "1",
            "chainId": CHAIN_ID,
            "verifyingContract": MARKET,
        },
        "message": {
            "maker": q.maker,
            "taker": q.taker,
            "seriesId": q.series_id,
            "side": int(q.side),
            "price": q.price,
            "size": q.size,
            "expiry": q.expiry,
            "nonce": q.nonce,
        },
    }


@given(
    price=st.integers(0, 2**256 - 1),
    size=st.integers(0, 2**256 - 1),
    nonce=st.integers(0, 2**256 - 1),
    expiry=st.integers(0, 2**64 - 1),
    side=st.sampled_from(list(MakerSide)),
)
def test_digest_matches_eth_account_typed_data(price, size, nonce, expiry, side):
    q = _quote(price=price, size=size, nonce=nonce, expiry=expiry, side=side)
    sig_ours = sign_quote(q, MAKER_KEY, CHAIN_ID, MARKET).signature
    theirs = Account.sign_typed_data(MAKER_KEY, full_message=_typed(q))
    assert sig_ours == bytes(theirs.signature)
    msg = encode_typed_data(full_message=_typed(q))
    assert Account.recover_message(msg, signature=sig_ours) == MAKER


def test_recover_signer_roundtrip_and_tamper():
    sq = sign_quote(_quote(), MAKER_KEY, CHAIN_ID, MARKET)
    assert recover_signer(sq.digest(), sq.signature) == MAKER
    tampered = _quote(price=sq.quote.price + 1)
    assert recover_signer(quote_digest(tampered, CHAIN_ID, MARKET), sq.signature) != MAKER
    assert recover_signer(sq.digest(), sq.signature[:64]) is None
    assert recover_signer(sq.digest(), sq.signature[:64] + b"\x05") is None


def test_high_s_signature_is_refused():
    sq = sign_quote(_quote(), MAKER_KEY, CHAIN_ID, MARKET)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, v = sq.signature[:32], int.from_bytes(sq.signature[32:64], "big"), sq.signature[64]
    malleable = r + (n - s).to_bytes(32, "big") + bytes((55 - v,))
    assert recover_signer(sq.digest(), malleable) is None


def test_wire_roundtrip():
    sq = sign_quote(_quote(), MAKER_KEY, CHAIN_ID, MARKET)
    assert SignedQuote.from_wire(sq.to_wire()) == sq
