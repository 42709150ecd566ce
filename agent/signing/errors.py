"""Signer failures, typed: every one is a SigningError (agent.errors) with a stable code.

A caller (TxEngine, the executors, the CLI) branches on the class or the code. A signer that
fails leaves nothing signed behind: the engine journals a TxRefused with the code and
releases the nonce, so the order stays unsent with a reason a person can act on.
"""

from __future__ import annotations

from agent.errors import SigningError


class SignerUnavailableError(SigningError):
    """The signer (a remote party, a co-signer) could not be reached or hung up."""

    code = "SIGNER_UNAVAILABLE"


class SignerTimeoutError(SignerUnavailableError):
    """The signer did not answer within its timeout."""

    code = "SIGNER_TIMEOUT"


class SignerFailedError(SigningError):
    """The signer raised something outside the agent's error tree (a bug or a crash there)."""

    code = "SIGNER_FAILED"


class SignerMismatchError(SigningError):
    """The signer returned a signature over something else, or from another address."""

    code = "SIGNER_MISMATCH"


class SignerRefusedError(SigningError):
    """The remote party refused to sign (its own checks said no); ``code`` is its code."""

    code = "SIGNER_REFUSED"
