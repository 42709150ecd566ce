"""Errors of the two-party protocol, each with a stable code (under agent.errors.SigningError).

Whatever goes wrong, nothing is signed and no share file is written or changed: a key share
is written once, at the end of a key generation that verified every proof, and never again.
"""

from __future__ import annotations

from agent.errors import SigningError
from agent.signing.errors import SignerUnavailableError


class ThresholdError(SigningError):
    code = "TSS_ERROR"


class TssBadMessageError(ThresholdError):
    """A protocol message is malformed: wrong type, missing field, out of range, not a point."""

    code = "TSS_BAD_MESSAGE"


class TssBadProofError(ThresholdError):
    """A zero-knowledge proof, a commitment opening or the final signature did not verify:
    the peer is faulty or malicious. Stop using it until someone looks."""

    code = "TSS_BAD_PROOF"


class TssAbortedError(SignerUnavailableError):
    """The peer hung up, timed out or sent an abort in the middle of the protocol."""

    code = "TSS_ABORTED"

    def __init__(self, message: str, *, peer_code: str | None = None) -> None:
        super().__init__(message)
        self.peer_code = peer_code


class TssShareError(ThresholdError):
    """A share file is missing, corrupt, for another key, or would overwrite another share."""

    code = "TSS_SHARE_INVALID"
