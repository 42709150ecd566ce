"""The co-signer's wire format and digest: the digest equals eth-account's independent EIP-712
encoding of the same typed data, every field moves it, bad requests name their field, and
the client's recovery finds the signer (and only it)."""

from __future__ import annotations

import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.signing.cosigner.client import recover
from agent.signing.cosigner.wire import (
    BadRequest,
    ModuleCall,
    cosign_digest,
    module_call,
    parse_cosignature,
    parse_request,
)
from agent.signing.local import LocalSigner
from agent.wallet.multisend import Call, multisend_calldata

MODULE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TO = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
u256 = st.integers(0, 2**256 - 1)
fields = st.fixed_dictionaries(
    {
        "module": addresses, "chain_id": st.integers(1, 2**64), "to": addresses, "value": u256,
        "data": st.binary(max_size=200), "operation": st.integers(0, 1), "nonce": u256,
        "deadline": u256,
    }
)  # fmt: skip


def _typed(f: dict) -> dict:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "CoSign": [
                {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "dataHash", "type": "bytes32"},
                {"name": "operation", "type": "uint8"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "CoSign",
        "domain": {"name": "PolicyModule", "version": "1", "chainId": f["chain_id"],
                   "verifyingContract": f["module"]},
        "message": {"to": f["to"], "value": f["value"], "dataHash": keccak(f["data"]),
                    "operation": f["operation"], "nonce": f["nonce"], "deadline": f["deadline"]},
    }  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(fields)
def test_digest_is_eip712_as_eth_account_encodes_it(f):
    m = encode_typed_data(full_message=_typed(f))
    assert cosign_digest(**f) == keccak(b"\x19" + m.version + m.header + m.body)


@settings(max_examples=200, deadline=None)
@given(fields, st.sampled_from(["module", "chain_id", "to", "value", "data", "operation", "nonce", "deadline"]), st.integers(1, 2**64))  # fmt: skip
def test_every_field_moves_the_digest(f, name, delta):
    g = dict(f)
    v = g[name]
    if name == "data":
        g[name] = v + bytes([delta % 256])
    elif name in ("module", "to"):
        g[name] = "0x" + (int(v, 16) ^ (delta % 2**160 or 1)).to_bytes(20, "big").hex()
    elif name == "operation":
        g[name] = 1 - v
    else:
        g[name] = (v + delta) % 2**256 if name != "chain_id" else v + delta
    assert cosign_digest(**g) != cosign_digest(**f)


def test_recover_finds_the_signer_only():
    s = LocalSigner("0x" + "11" * 32)
    other = LocalSigner("0x" + "12" * 32)
    d = cosign_digest(module=MODULE, chain_id=1, to=TO, value=0, data=b"\x01", operation=0,
                      nonce=7, deadline=9)  # fmt: skip
    sig = s.sign_digest(d)
    assert recover(d, sig) == s.address
    assert recover(d, other.sign_digest(d)) != s.address
    assert recover(keccak(d), sig) != s.address  # a signature over another call


def test_module_call_single_and_batch():
    a, b = Call(TO, b"\xaa\xbb\xcc\xdd", 5), Call(MODULE, b"\x01\x02\x03\x04")
    assert module_call([a], MODULE) == ModuleCall(TO, 5, a.data, 0)
    batch = module_call([a, b], "0x40A2aCCbd92BCA938b02010E17A5b8929b49130D")
    assert batch.operation == 1 and batch.value == 0
    assert batch.data == multisend_calldata([a, b])


GOOD = {"chain_id": 1, "module": MODULE, "operator": TO, "to": TO, "value": "0", "data": "0x",
        "operation": 0}  # fmt: skip


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"value": "-1"}, "value"),
        ({"value": str(2**256)}, "value"),
        ({"value": True}, "value"),
        ({"to": "0x1234"}, "to"),
        ({"module": None}, "module"),
        ({"data": "abcd"}, "data"),
        ({"data": "0xzz"}, "data"),
        ({"operation": 256}, "operation"),
        ({"chain_id": "one"}, "chain_id"),
        ({"context": []}, "context"),
    ],
)
def test_bad_request_names_its_field(patch, field):
    with pytest.raises(BadRequest) as e:
        parse_request({**GOOD, **patch})
    assert e.value.field == field
    assert str(e.value).startswith(field + ":")


def test_good_request_round_trips():
    req = parse_request({**GOOD, "value": "0x10", "data": "0xdeadbeef", "context": {"a": 1}})
    assert req.call == ModuleCall(TO, 16, bytes.fromhex("deadbeef"), 0)
    assert parse_request(req.to_json()) == req


def test_malformed_answer_refused():
    with pytest.raises(BadRequest):
        parse_cosignature({"cosigner": TO, "nonce": "0x1", "deadline": 5, "signature": "0x00"})
    with pytest.raises(BadRequest):
        parse_cosignature([])
