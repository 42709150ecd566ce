"""Typed bridge errors, and the mapping from the contracts' custom errors to them.

Each contract revert becomes one of these with a stable ``code`` and a line a person can act
on. The relayer and the venue simulate (eth_call) before sending, so a message that would be
refused raises here and nothing is signed for the chain, sent, or moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.errors import VenueError


class BridgeError(VenueError):
    code = "BRIDGE_ERROR"


class BridgeRejectedError(BridgeError):
    """A bridge contract refused a message or a call. ``error_name``/``error_args`` are the
    contract's custom error, decoded."""

    code = "BRIDGE_REJECTED"

    def __init__(self, message: str, *, error_name: str = "", error_args: Sequence[Any] = ()):
        self.error_name = error_name
        self.error_args = tuple(error_args)
        super().__init__(message)


class BridgeReplayError(BridgeRejectedError):
    code = "BRIDGE_REPLAYED"


class BridgeQuorumError(BridgeRejectedError):
    """Fewer relayer signatures than the contract's threshold."""

    code = "BRIDGE_TOO_FEW_SIGNATURES"


class BridgeSignatureError(BridgeRejectedError):
    """A signature is malformed, out of order, or from an address outside the relayer set."""

    code = "BRIDGE_BAD_SIGNATURE"


class BridgeSourceError(BridgeRejectedError):
    """The message names another chain, escrow or bridge than the one this side trusts."""

    code = "BRIDGE_WRONG_SOURCE"


class BridgeChallengePeriodError(BridgeRejectedError):
    code = "BRIDGE_CHALLENGE_PERIOD"


class BridgeTimeoutError(BridgeError):
    """A transfer did not complete on the destination chain within the wait."""

    code = "BRIDGE_TIMEOUT"


# custom error name -> (class, what to do about it)
_BY_NAME: dict[str, tuple[type[BridgeRejectedError], str]] = {
    "DepositAlreadyProcessed": (BridgeReplayError, "this deposit was already minted on L2"),
    "WithdrawalAlreadyKnown": (BridgeReplayError, "this withdrawal was already proven on L1"),
    "WithdrawalNotPending": (
        BridgeReplayError,
        "the withdrawal is not pending (done, challenged or unknown)",
    ),
    "InsufficientSignatures": (
        BridgeQuorumError,
        "collect signatures from at least `threshold` relayers",
    ),
    "MalformedSignatures": (BridgeSignatureError, "signatures must be 65-byte r||s||v chunks"),
    "InvalidSignature": (BridgeSignatureError, "a signature does not recover; re-sign the digest"),
    "SignerNotRelayer": (BridgeSignatureError, "a signer is not in the relayer set"),
    "SignersNotAscending": (
        BridgeSignatureError,
        "order signatures by ascending signer, no duplicates",
    ),
    "WrongSource": (BridgeSourceError, "the message comes from another chain or contract"),
    "ChallengePeriodActive": (BridgeChallengePeriodError, "wait until the challenge period ends"),
    "ChallengePeriodOver": (BridgeChallengePeriodError, "the challenge period is over"),
    "UnknownToken": (BridgeRejectedError, "register the token on the L2 bridge first"),
    "InsufficientEscrow": (BridgeRejectedError, "the escrow does not hold that much of the token"),
    "AmountTooSmall": (BridgeRejectedError, "send more than the bridge fee"),
    "ZeroRecipient": (BridgeRejectedError, "name a non-zero recipient"),
    "CounterpartState": (
        BridgeRejectedError,
        "the escrow's L2 counterpart is unset or already set",
    ),
    "UnsupportedToken": (
        BridgeRejectedError,
        "fee-on-transfer or rebasing tokens cannot be bridged",
    ),
    "TokenAlreadyRegistered": (BridgeRejectedError, "the token already has an L2 representation"),
}


def rejected(error_name: str, error_args: Sequence[Any], context: str) -> BridgeRejectedError:
    cls, fix = _BY_NAME.get(error_name, (BridgeRejectedError, "see docs/bridge.md"))
    shown = ", ".join(_show(a) for a in error_args)
    return cls(
        f"{context}: {error_name}({shown}); {fix}", error_name=error_name, error_args=error_args
    )


def _show(v: Any) -> str:
    return "0x" + v.hex() if isinstance(v, bytes) else str(v)
