"""The fast signing path against eth-account, on random transactions."""

from __future__ import annotations

import coincurve
import pytest
import rlp as pyrlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ValidationError
from agent.signing import LocalSigner, TxRequest, check_fast_backend, rlp, sign_eip1559
from agent.signing.backend import _VECTOR_KEY, KNOWN_VECTOR_HASH, KNOWN_VECTOR_SENDER
from agent.signing.eip1559 import address_of

uint = st.integers(min_value=0, max_value=2**256 - 1)
addr = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
keys = st.integers(min_value=1, max_value=coincurve.utils.GROUP_ORDER_INT - 1).map(
    lambda k: k.to_bytes(32, "big")
)


@st.composite
def txs(draw):
    tip = draw(st.integers(0, 10**12))
    al = draw(
        st.lists(
            st.tuples(
                addr,
                st.lists(
                    st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()), max_size=3
                ).map(tuple),
            ),
            max_size=2,
        ).map(tuple)
    )
    return TxRequest(
        chain_id=draw(st.integers(1, 2**40)),
        nonce=draw(st.integers(0, 2**64 - 2)),
        to=draw(st.none() | addr),
        value=draw(uint),
        data=draw(st.binary(max_size=300)),
        gas=draw(st.integers(21000, 30_000_000)),
        max_fee_per_gas=tip + draw(st.integers(0, 10**15)),
        max_priority_fee_per_gas=tip,
        access_list=al,
    )


def _eth_account_dict(tx: TxRequest) -> dict:
    d = {
        "type": 2,
        "chainId": tx.chain_id,
        "nonce": tx.nonce,
        "value": tx.value,
        "data": tx.data,
        "gas": tx.gas,
        "maxFeePerGas": tx.max_fee_per_gas,
        "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
        "accessList": [
            {"address": to_checksum_address(a), "storageKeys": list(k)} for a, k in tx.access_list
        ],
    }
    if tx.to is not None:
        d["to"] = to_checksum_address(tx.to)
    return d


@settings(max_examples=150, deadline=None)
@given(key=keys, tx=txs())
def test_matches_eth_account(key, tx):
    signer = LocalSigner(key, check_backend=False)
    ours = signer.sign_transaction_sync(tx)
    ref = Account.sign_transaction(_eth_account_dict(tx), key)
    assert ours.raw == bytes(ref.raw_transaction)
    assert ours.hash == bytes(ref.hash)
    assert (ours.r, ours.s, ours.y_parity) == (ref.r, ref.s, ref.v)
    assert signer.address == Account.from_key(key).address
    # and the sender recovers from the raw bytes
    assert Account.recover_transaction(ours.raw) == signer.address


def test_signature_is_deterministic_for_recovery():
    s = LocalSigner("0x" + "01" * 32)
    tx = TxRequest(
        chain_id=5,
        nonce=7,
        to="0x" + "22" * 20,
        value=10,
        max_fee_per_gas=10,
        max_priority_fee_per_gas=1,
    )
    assert s.sign_transaction_sync(tx).raw == s.sign_transaction_sync(tx).raw


def test_decodes_as_typed_transaction():
    s = LocalSigner("0x" + "02" * 32)
    tx = TxRequest(
        chain_id=31337001,
        nonce=3,
        to=None,
        data=b"\x60\x00",
        gas=100000,
        max_fee_per_gas=3,
        max_priority_fee_per_gas=2,
    )
    decoded = TypedTransaction.from_bytes(HexBytes(s.sign_transaction_sync(tx).raw)).as_dict()
    assert decoded["nonce"] == 3 and decoded["chainId"] == 31337001 and decoded["maxFeePerGas"] == 3


@given(
    st.recursive(
        st.binary(max_size=80) | st.integers(0, 2**256 - 1),
        lambda c: st.lists(c, max_size=5),
        max_leaves=20,
    )
)
def test_rlp_matches_reference(item):
    assert rlp.encode(item) == pyrlp.encode(item)


def test_known_vector_is_eth_accounts():
    ref = Account.sign_transaction(
        {
            "type": 2,
            "chainId": 1,
            "nonce": 0,
            "to": "0x" + "11" * 20,
            "value": 1,
            "gas": 21000,
            "maxFeePerGas": 2_000_000_000,
            "maxPriorityFeePerGas": 1_000_000_000,
        },
        _VECTOR_KEY,
    )
    assert "0x" + bytes(ref.hash).hex() == KNOWN_VECTOR_HASH
    assert Account.from_key(_VECTOR_KEY).address == KNOWN_VECTOR_SENDER
    assert check_fast_backend().name == "coincurve"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"nonce": -1}, "nonce"),
        ({"max_priority_fee_per_gas": 11}, "max_priority_fee_per_gas"),
        ({"gas": 20999}, "gas"),
        ({"to": "0x1234"}, "to"),
        ({"chain_id": 0}, "chain_id"),
        ({"value": 1.5}, "value"),
        ({"value": 2**256}, "value"),
    ],
)
def test_bad_fields_are_named(change, field):
    tx = TxRequest(
        chain_id=1, nonce=0, to="0x" + "11" * 20, max_fee_per_gas=10, max_priority_fee_per_gas=1
    ).replace(**change)
    key = coincurve.PrivateKey(b"\x01" * 32)
    with pytest.raises(ValidationError) as e:
        sign_eip1559(key, address_of(key.public_key.format(compressed=False)), tx)
    assert e.value.field == field


def test_tx_json_roundtrip():
    tx = TxRequest(
        chain_id=1,
        nonce=9,
        to=None,
        value=2**200,
        data=b"\x01\x02",
        gas=50000,
        max_fee_per_gas=5,
        max_priority_fee_per_gas=5,
        access_list=(("0x" + "33" * 20, ("0x" + "00" * 32,)),),
    )
    assert TxRequest.from_json(tx.to_json()) == tx


@settings(max_examples=50, deadline=None)
@given(tx=txs())
def test_decode_signed_roundtrip(tx):
    from agent.signing.eip1559 import decode_signed

    signed = LocalSigner("0x" + "03" * 32, check_backend=False).sign_transaction_sync(tx)
    assert decode_signed(signed.raw) == tx


@given(st.binary(max_size=600))
def test_fast_keccak_matches_pycryptodome(data):
    from agent.signing.eip1559 import _keccak256_portable, keccak256

    assert keccak256(data) == _keccak256_portable(data)


def test_fast_keccak_is_thread_safe():
    import threading

    from agent.signing.eip1559 import _keccak256_portable, keccak256

    bad = []

    def work(seed: int) -> None:
        for i in range(2000):
            d = bytes([seed]) * (i % 200)
            if keccak256(d) != _keccak256_portable(d):
                bad.append((seed, i))

    ts = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad
