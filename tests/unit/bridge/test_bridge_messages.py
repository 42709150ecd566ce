"""Bridge message hashing and relayer attestations, checked against eth-account's
independent EIP-712 implementation."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.bridge.messages import (
    Attestation,
    Deposit,
    Withdrawal,
    attest,
    l1_domain,
    l2_domain,
    pack,
    recover_signers,
)
from agent.errors import ValidationError
from agent.signing import LocalSigner, keccak256

KEYS = [
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
]
SIGNERS = [LocalSigner(k) for k in KEYS]

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
uint256 = st.integers(min_value=0, max_value=2**256 - 1)


def _typed(kind: str, source_field: str, m, domain_name: str, chain_id: int, contract: str):
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            kind: [
                {"name": "sourceChainId", "type": "uint256"},
                {"name": source_field, "type": "address"},
                {"name": "token", "type": "address"},
                {"name": "sender", "type": "address"},
                {"name": "recipient", "type": "address"},
                {"name": "amount", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": kind,
        "domain": {
            "name": domain_name,
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": contract,
        },
        "message": {
            "sourceChainId": m.source_chain_id,
            source_field: m.source,
            "token": m.token,
            "sender": m.sender,
            "recipient": m.recipient,
            "amount": m.amount,
            "nonce": m.nonce,
        },
    }


def _eth_account_digest(typed) -> bytes:
    msg = encode_typed_data(full_message=typed)
    return keccak256(b"\x19" + msg.version + msg.header + msg.body)


@settings(max_examples=60, deadline=None)
@given(
    chain=st.integers(1, 2**64),
    src=addresses,
    token=addresses,
    sender=addresses,
    rcpt=addresses,
    amount=uint256,
    nonce=uint256,
    dest=addresses,
)
def test_digest_matches_eth_account(chain, src, token, sender, rcpt, amount, nonce, dest):
    d = Deposit(chain, src, token, sender, rcpt, amount, nonce)
    typed = _typed("Deposit", "escrow", d, "AgentBridgeL2", 31337002, dest)
    assert l2_domain(31337002, dest).digest(d) == _eth_account_digest(typed)
    w = Withdrawal(chain, src, token, sender, rcpt, amount, nonce)
    typed = _typed("Withdrawal", "source", w, "AgentBridgeEscrow", 31337001, dest)
    assert l1_domain(31337001, dest).digest(w) == _eth_account_digest(typed)


def test_deposit_and_withdrawal_with_equal_fields_differ():
    args = (1, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20, 5, 0)
    assert Deposit(*args).struct_hash != Withdrawal(*args).struct_hash


@given(amount=st.integers(0, 2**128), nonce=st.integers(0, 2**64))
@settings(max_examples=40, deadline=None)
def test_every_field_changes_the_id(amount, nonce):
    base = Deposit(
        1, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20, amount, nonce
    )
    assert Deposit(*base.as_tuple()[:5], amount + 1, nonce).struct_hash != base.struct_hash
    assert Deposit(*base.as_tuple()[:6], nonce + 1).struct_hash != base.struct_hash
    assert Deposit(2, *base.as_tuple()[1:]).struct_hash != base.struct_hash


def test_pack_orders_ascending_and_recovers():
    d = Deposit(1, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20, 10, 3)
    dom = l2_domain(31337002, "0x" + "55" * 20)
    atts = attest(dom, d, reversed(SIGNERS))
    packed = pack(atts)
    assert len(packed) == 65 * 3
    got = recover_signers(dom, d, packed)
    assert got == sorted((s.address for s in SIGNERS), key=lambda a: int(a, 16))
    # also agrees with eth-account's recovery
    for i, addr in enumerate(got):
        assert Account._recover_hash(dom.digest(d), signature=packed[65 * i : 65 * (i + 1)]) == addr


def test_pack_drops_duplicate_signers():
    d = Deposit(1, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20, 10, 3)
    dom = l2_domain(31337002, "0x" + "55" * 20)
    one = attest(dom, d, SIGNERS[:1])
    assert pack(one + one) == pack(one)


def test_pack_refuses_bad_signature_length():
    with pytest.raises(ValidationError) as e:
        pack([Attestation(SIGNERS[0].address, b"\x00" * 64)])
    assert e.value.field == "signature"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"amount": -1}, "amount"),
        ({"nonce": 2**256}, "nonce"),
        ({"token": "0x1234"}, "token"),
        ({"recipient": "not an address"}, "recipient"),
    ],
)
def test_bad_fields_are_named(kwargs, field):
    base = {
        "source_chain_id": 1,
        "source": "0x" + "11" * 20,
        "token": "0x" + "22" * 20,
        "sender": "0x" + "33" * 20,
        "recipient": "0x" + "44" * 20,
        "amount": 1,
        "nonce": 0,
    }
    with pytest.raises(ValidationError) as e:
        Deposit(**{**base, **kwargs})
    assert e.value.field == field
