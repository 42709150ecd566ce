"""The one revert decoder: our contracts' custom errors (from abis/), Safe's GSxxx codes,
Error(string) and Panic, in revert data and in the messages nodes wrap them in."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as sel

from agent.errors import RpcError
from agent.wallet.reverts import (
    ERROR_STRING,
    PANIC,
    custom_errors,
    decode_revert,
    explain,
    explain_error,
    would_revert,
)

VIOLATION = sel("PolicyViolation(uint8,bytes32)")


def violation(status: int, word: bytes = b"\x00" * 31 + b"\x07") -> bytes:
    return VIOLATION + encode(["uint8", "bytes32"], [status, word])


def test_policy_violation_by_name_with_its_status_name() -> None:
    assert VIOLATION.hex() == "95e83831"
    got = decode_revert(violation(13))
    assert got == ("PolicyModule.PolicyViolation(status=ALLOWANCE_EXCEEDED (13), word=0x"
                   + "00" * 31 + "07)")  # fmt: skip
    assert "unknown status" in (decode_revert(violation(200)) or "")


def test_anvil_message_with_custom_error_is_rewritten() -> None:
    raw = violation(5)
    msg = f"eth_estimateGas: execution reverted: custom error 0x95e83831: {raw[4:].hex()}"
    out = explain(msg)
    assert out.startswith("eth_estimateGas: execution reverted: PolicyModule.PolicyViolation(")
    assert "FUNCTION_NOT_ALLOWED" in out and "custom error" not in out
    e = would_revert(RpcError(msg))
    assert e is not None and e.code == "POLICY_FUNCTION_NOT_ALLOWED"


def test_revert_data_on_the_error_wins_over_the_message() -> None:
    e = RpcError("execution reverted", data="0x" + violation(2).hex())
    assert "PolicyViolation(status=PAUSED (2)" in explain_error(e)
    nested = RpcError("execution reverted", data={"data": "0x" + violation(3).hex()})
    assert "UNAUTHORIZED (3)" in explain_error(nested)


def test_safe_codes_in_messages_and_in_error_string() -> None:
    assert explain("execution reverted: GS026") == (
        "execution reverted: Safe GS026: invalid owner provided (a signature is not from an "
        "owner, or the signatures are not sorted by owner address)"
    )
    data = ERROR_STRING + encode(["string"], ["GS013"])
    assert (
        decode_revert(data)
        == "Safe GS013: Safe transaction failed when gasPrice and safeTxGas were 0"
    )
    assert decode_revert(ERROR_STRING + encode(["string"], ["boom"])) == "reverted: 'boom'"
    assert explain("execution reverted: GS999") == "execution reverted: GS999"  # not Safe's


def test_panic_and_unknown_and_garbage() -> None:
    assert decode_revert(PANIC + encode(["uint256"], [0x11])) == (
        "panic 0x11: arithmetic overflow or underflow"
    )
    assert decode_revert("0xdeadbeef") is None
    assert decode_revert("0x12") is None and decode_revert("zz") is None
    assert "<undecodable arguments>" in (decode_revert(VIOLATION + b"\x01") or "")
    assert explain("nonce too low") == "nonce too low"
    assert would_revert(RpcError("nonce too low")) is None


def test_every_custom_error_of_our_contracts_is_known() -> None:
    names = {(e.contract, e.name) for e in custom_errors().values()}
    assert ("PolicyModule", "PolicyViolation") in names
    assert {c for c, _ in names} >= {"PolicyModule", "OptionsMarket", "BridgeEscrow"}
