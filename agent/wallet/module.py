"""Calldata for the Safe's PolicyModule (contracts/policy/PolicyModule.sol).

The operator key calls ``PolicyModule.execute(to, value, data, operation)``; the module checks
the call against the owners' policy and makes the Safe execute it. Several calls go as ONE
MultiSendCallOnly batch (a delegatecall, the only one the module permits), each inner call
checked by the module as if sent alone, so the batch executes entirely or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import function_signature_to_4byte_selector as selector

from agent.signing.abi import encode
from agent.wallet.multisend import Call, multisend_calldata

EXECUTE = selector("execute(address,uint256,bytes,uint8)")
CALL, DELEGATECALL = 0, 1


def execute_calldata(to: str, value: int, data: bytes, operation: int = CALL) -> bytes:
    return EXECUTE + encode(["address", "uint256", "bytes", "uint8"], [to, value, data, operation])


def module_calldata(calls: Sequence[Call], multisend: str) -> bytes:
    """``execute`` for one call, or for the MultiSendCallOnly batch of several."""
    if not calls:
        raise ValueError("no calls to execute")
    if len(calls) == 1:
        c = calls[0]
        return execute_calldata(c.to, c.value, c.data, CALL)
    return execute_calldata(multisend, 0, multisend_calldata(list(calls)), DELEGATECALL)
