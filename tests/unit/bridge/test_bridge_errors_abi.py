"""Custom-error decoding and the typed errors they become; relayer config validation."""

from __future__ import annotations

import pytest
from eth_abi import encode

from agent.bridge.abi import escrow_abi, l2_abi
from agent.bridge.errors import (
    BridgeChallengePeriodError,
    BridgeQuorumError,
    BridgeRejectedError,
    BridgeReplayError,
    BridgeSignatureError,
    rejected,
)
from agent.bridge.relayer import RelayerConfig
from agent.errors import ValidationError, VenueError
from agent.signing import keccak256


def _err(sig: str, types: list[str], args: list) -> str:
    return "0x" + (keccak256(sig.encode())[:4] + encode(types, args)).hex()


def test_decode_too_few_signatures():
    data = _err("InsufficientSignatures(uint256,uint256)", ["uint256", "uint256"], [1, 2])
    name, args = l2_abi().decode_error(data)
    assert (name, args) == ("InsufficientSignatures", (1, 2))
    e = rejected(name, args, "L2: deposit 0xab")
    assert isinstance(e, BridgeQuorumError) and isinstance(e, VenueError)
    assert e.code == "BRIDGE_TOO_FEW_SIGNATURES"
    assert str(e).startswith(
        "[BRIDGE_TOO_FEW_SIGNATURES] L2: deposit 0xab: InsufficientSignatures(1, 2)"
    )


def test_decode_replay_and_challenge_on_escrow():
    wid = b"\x07" * 32
    data = _err("WithdrawalAlreadyKnown(bytes32,uint8)", ["bytes32", "uint8"], [wid, 2])
    name, args = escrow_abi().decode_error(data)
    assert isinstance(rejected(name, args, "L1"), BridgeReplayError)
    data = _err(
        "ChallengePeriodActive(bytes32,uint256,uint256)",
        ["bytes32", "uint256", "uint256"],
        [wid, 100, 50],
    )
    name, args = escrow_abi().decode_error(data)
    e = rejected(name, args, "L1")
    assert isinstance(e, BridgeChallengePeriodError)
    assert "0x" + wid.hex() in str(e)


def test_signer_errors_are_signature_errors():
    data = _err("SignerNotRelayer(address)", ["address"], ["0x" + "ab" * 20])
    name, args = l2_abi().decode_error(data)
    assert isinstance(rejected(name, args, "L2"), BridgeSignatureError)


def test_unknown_payloads_are_not_decoded():
    assert l2_abi().decode_error(None) is None
    assert l2_abi().decode_error("0x") is None
    assert l2_abi().decode_error("0x08c379a0" + "00" * 64) is None  # Error(string), not ours
    # our selector with a truncated body
    assert l2_abi().decode_error(_err("InsufficientSignatures(uint256,uint256)", [], [])) is None


def test_unmapped_error_name_still_typed():
    e = rejected("SomethingNew", (1,), "L2")
    assert type(e) is BridgeRejectedError and e.code == "BRIDGE_REJECTED"


def test_event_topics_and_log_decoding():
    abi = escrow_abi()
    topic = abi.topic("DepositInitiated")
    assert (
        topic
        == "0x"
        + keccak256(
            b"DepositInitiated(bytes32,address,address,address,uint256,uint256,uint256)"
        ).hex()
    )
    log = {
        "address": "0x" + "aa" * 20,
        "topics": [
            topic,
            "0x" + "01" * 32,
            "0x" + "00" * 12 + "bb" * 20,
            "0x" + "00" * 12 + "cc" * 20,
        ],
        "data": "0x"
        + encode(["address", "uint256", "uint256", "uint256"], ["0x" + "dd" * 20, 995, 5, 7]).hex(),
        "blockNumber": "0x10",
        "transactionHash": "0x" + "ee" * 32,
        "logIndex": "0x0",
    }
    ev = abi.decode_log(log)
    assert ev.event == "DepositInitiated" and ev.block == 16
    assert ev.args["amount"] == 995 and ev.args["fee"] == 5 and ev.args["nonce"] == 7
    assert ev.args["token"].lower() == "0x" + "bb" * 20
    assert abi.decode_log({**log, "topics": ["0x" + "00" * 32]}) is None


def _cfg(**kw):
    base = dict(
        l1_url="http://127.0.0.1:1",
        l2_url="http://127.0.0.1:2",
        escrow="0x" + "11" * 20,
        l2_bridge="0x" + "22" * 20,
        relayer_keys=("0x" + "01" * 32,),
        submitter_key="0x" + "02" * 32,
    )
    return RelayerConfig(**{**base, **kw})


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"confirmations": 0}, "confirmations"),
        ({"relayer_keys": ()}, "relayer_keys"),
        ({"escrow": "0x12"}, "escrow"),
        ({"poll_interval": 0}, "poll_interval"),
    ],
)
def test_relayer_config_validation(kw, field):
    with pytest.raises(ValidationError) as e:
        _cfg(**kw)
    assert e.value.field == field


def test_relayer_config_hides_keys():
    assert "01" * 32 not in repr(_cfg())
