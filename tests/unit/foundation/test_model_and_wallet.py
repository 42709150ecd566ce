"""Pure logic of the foundation: amounts, intents, Safe tx hashing, MultiSend, routing."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import UnsafePayloadError, ValidationError
from agent.model import Quote, Side, SwapIntent, from_base_units, to_base_units
from agent.routing.cost import GasPrice, best
from agent.venues.uniswap_common import bound
from agent.wallet.multisend import Call, decode_multisend_calldata, multisend_calldata, pack, unpack
from agent.wallet.safe_tx import Operation, SafeTx, check_owners, sign_safe_tx

addresses = st.binary(min_size=20, max_size=20).map(
    lambda b: Account.create().address if not b else "0x" + b.hex()
)
checksummed = st.binary(min_size=20, max_size=20).map(
    lambda b: __import__("eth_utils").to_checksum_address(b)
)


@given(st.integers(min_value=0, max_value=2**200), st.integers(min_value=0, max_value=36))
def test_base_units_round_trip_is_exact(units: int, decimals: int) -> None:
    assert to_base_units(from_base_units(units, decimals), decimals) == units


def test_to_base_units_refuses_excess_precision() -> None:
    with pytest.raises(ValidationError, match="more than 6 decimal places"):
        to_base_units(Decimal("1.0000001"), 6)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"size": Decimal(0)}, "intent.size"),
        ({"size": Decimal(-1)}, "intent.size"),
        ({"size": Decimal("NaN")}, "intent.size"),
        ({"max_slippage_bps": -1}, "intent.max_slippage_bps"),
        ({"max_slippage_bps": 10_001}, "intent.max_slippage_bps"),
        ({"quote": "WETH"}, "intent.quote"),
        ({"client_id": ""}, "intent.client_id"),
    ],
)
def test_bad_intents_name_the_field(kw: dict, field: str) -> None:
    args = {"client_id": "c1", "side": Side.BUY, "base": "WETH", "quote": "USDC",
            "size": Decimal(1), "max_slippage_bps": 30} | kw  # fmt: skip
    with pytest.raises(ValidationError) as e:
        SwapIntent(**args)
    assert e.value.field == field
    assert "\n" not in str(e.value)


@given(
    to=checksummed, value=st.integers(0, 2**128), data=st.binary(max_size=200),
    op=st.sampled_from(list(Operation)), nonce=st.integers(0, 2**32),
    chain_id=st.integers(1, 2**40), safe=checksummed,
)  # fmt: skip
def test_safe_tx_hash_matches_an_independent_eip712_encoder(
    to, value, data, op, nonce, chain_id, safe
):  # type: ignore[no-untyped-def]
    tx = SafeTx(
        safe=safe, chain_id=chain_id, to=to, value=value, data=data, operation=op, nonce=nonce
    )
    typed = {
        "types": {
            "EIP712Domain": [{"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "SafeTx": [
                {"name": "to", "type": "address"}, {"name": "value", "type": "uint256"},
                {"name": "data", "type": "bytes"}, {"name": "operation", "type": "uint8"},
                {"name": "safeTxGas", "type": "uint256"}, {"name": "baseGas", "type": "uint256"},
                {"name": "gasPrice", "type": "uint256"}, {"name": "gasToken", "type": "address"},
                {"name": "refundReceiver", "type": "address"}, {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "SafeTx",
        "domain": {"chainId": chain_id, "verifyingContract": safe},
        "message": {"to": to, "value": value, "data": data, "operation": int(op), "safeTxGas": 0,
                    "baseGas": 0, "gasPrice": 0, "gasToken": "0x" + "00" * 20,
                    "refundReceiver": "0x" + "00" * 20, "nonce": nonce},
    }  # fmt: skip
    sm = encode_typed_data(full_message=typed)
    from eth_utils import keccak

    assert tx.hash() == keccak(b"\x19" + sm.version + sm.header + sm.body)


def test_owner_signature_recovers_to_owner_and_refuses_a_mismatched_display() -> None:
    acct = Account.create()
    tx = SafeTx(safe=acct.address, chain_id=31337001, to=acct.address, value=1, data=b"\x01",
                operation=Operation.CALL, nonce=3)  # fmt: skip
    owner, sig = sign_safe_tx(tx, acct.key.hex())
    assert owner == acct.address
    from eth_keys import keys

    s = keys.Signature(sig[:64] + bytes([sig[64] - 27]))
    assert s.recover_public_key_from_msg_hash(tx.hash()).to_checksum_address() == acct.address
    other = SafeTx(safe=acct.address, chain_id=31337001, to=acct.address, value=2, data=b"\x01",
                   operation=Operation.CALL, nonce=3)  # fmt: skip
    with pytest.raises(UnsafePayloadError, match="refusing to sign"):
        sign_safe_tx(tx, acct.key.hex(), expected_hash=other.hash())


@pytest.mark.parametrize(
    ("owners", "threshold", "field"),
    [([], 1, "owners"), (["0x" + "11" * 20, "0x" + "11" * 20], 1, "owners"),
     (["0x" + "11" * 20], 2, "threshold"), (["0x" + "11" * 20], 0, "threshold"),
     (["nope"], 1, "owners[0]")],
)  # fmt: skip
def test_owner_set_validation(owners: list[str], threshold: int, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        check_owners(owners, threshold)
    assert e.value.field == field


calls = st.lists(
    st.builds(Call, to=checksummed, data=st.binary(max_size=300), value=st.integers(0, 2**256 - 1)),
    max_size=6,
)


@given(calls)
def test_multisend_round_trip(cs: list[Call]) -> None:
    assert unpack(pack(cs)) == cs
    assert decode_multisend_calldata(multisend_calldata(cs)) == cs


@given(calls.filter(bool), st.data())
def test_multisend_refuses_truncation_and_delegatecall(cs: list[Call], data: st.DataObject) -> None:
    packed = pack(cs)
    cut = data.draw(st.integers(1, len(packed) - 1))
    if cut not in _boundaries(cs):
        with pytest.raises(UnsafePayloadError):
            unpack(packed[:cut])
    with pytest.raises(UnsafePayloadError, match="delegatecall"):
        unpack(b"\x01" + packed[1:])


def _boundaries(cs: list[Call]) -> set[int]:
    out, i = set(), 0
    for c in cs:
        i += 85 + len(c.data)
        out.add(i)
    return out


@given(st.integers(1, 10**30), st.integers(0, 10_000))
def test_slippage_bound_is_never_looser_than_asked(amount: int, bps: int) -> None:
    hi = bound(amount, bps, upper=True)
    lo = bound(amount, bps, upper=False)
    assert hi * 10_000 <= amount * (10_000 + bps)  # max in: at most amount*(1+s)
    assert lo * 10_000 >= amount * (10_000 - bps)  # min out: at least amount*(1-s)
    assert lo <= amount <= hi


def _q(venue: str, side: Side, a_in: int, a_out: int, gas: int) -> Quote:
    return Quote(venue, side, "USDC", "WETH", a_in, a_out, 30, gas)


def test_router_weighs_gas_in_the_quote_asset() -> None:
    gas = GasPrice(10**9, Fraction(3000 * 10**6, 10**18))  # 1 gwei, 3000 USDC/ETH
    cheap_but_heavy = _q("a", Side.BUY, 1_000_000, 10**18, 2_000_000)  # +6 USDC gas
    dearer_but_light = _q("b", Side.BUY, 1_000_100, 10**18, 100_000)  # +0.3 USDC gas
    pick, scored = best([cheap_but_heavy, dearer_but_light], gas)
    assert pick.quote.venue == "b"
    assert {s.quote.venue: s.gas_cost_quote for s in scored} == {"a": 6_000_000, "b": 300_000}
    sell = best(
        [_q("a", Side.SELL, 10**18, 2_000_000, 0), _q("b", Side.SELL, 10**18, 1_999_000, 0)], gas
    )[0]
    assert sell.quote.venue == "a"
