"""check_signed: what a remote signer returns is decoded and recovered before anyone uses it."""

from __future__ import annotations

import dataclasses

import pytest

from agent.signing import LocalSigner, TxRequest
from agent.signing.dispatch import check_signed
from agent.signing.errors import SignerMismatchError

KEY = "0x" + "07" * 32
TX = TxRequest(
    chain_id=5,
    nonce=1,
    to="0x" + "Ab" * 20,
    value=9,
    gas=21_000,
    max_fee_per_gas=2,
    max_priority_fee_per_gas=1,
)


def test_accepts_a_true_signature_whatever_the_address_case():
    s = LocalSigner(KEY)
    st = s.sign_transaction_sync(TX)
    check_signed(TX, st, s.address.lower())


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda st: dataclasses.replace(st, hash=b"\x00" * 32), "hash"),
        (lambda st: dataclasses.replace(st, s=st.s - 1), "differ"),  # fields vs raw bytes
        (lambda st: dataclasses.replace(st, raw=st.raw[:-3]), "decode"),
        (lambda st: dataclasses.replace(st, tx=TX.replace(value=10)), "different transaction"),
        (lambda st: dataclasses.replace(st, sender="0x" + "11" * 20), "recovers"),
        (lambda st: ("not", "a", "SignedTx"), "not a SignedTx"),
    ],
)
def test_refuses_anything_else(change, words):
    s = LocalSigner(KEY)
    with pytest.raises(SignerMismatchError, match=words) as info:
        check_signed(TX, change(s.sign_transaction_sync(TX)), s.address)
    assert info.value.code == "SIGNER_MISMATCH"
