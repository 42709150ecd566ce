"""The one exception tree of the agent.

Every error the agent raises on purpose derives from :class:`AgentError` and carries a stable
``code`` (machine-readable, never reworded) and a message a person can act on: what was wrong
and how to fix it. Callers branch on the class or the code, never on the message text.

The tree mirrors web3.py's habit of one root with a few families below it, so a caller can
catch as broadly or narrowly as it needs.

A *refusal* of a trade by risk or policy is not an exception: it is an ``OrderDenied`` event
with a code and reason (see ``agent.oms``). Exceptions are for things that went wrong.
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error the agent raises deliberately."""

    code: str = "AGENT_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:  # one line, code first, so logs and CLIs can show it as is
        return f"[{self.code}] {self.message}"


# --- bad input at an edge (config, CLI, API, venue payloads) -------------------------------
class ValidationError(AgentError):
    """Input that is wrong in a way the user can fix. Names the field and the fix."""

    code = "INVALID_INPUT"

    def __init__(self, field: str, problem: str, fix: str = "", *, code: str | None = None):
        self.field = field
        self.problem = problem
        self.fix = fix
        msg = f"{field}: {problem}" + (f"; {fix}" if fix else "")
        super().__init__(msg, code=code)


class ConfigError(ValidationError):
    code = "CONFIG_INVALID"


class UnknownAssetError(ValidationError):
    code = "UNKNOWN_ASSET"


# --- toolchain and environment ------------------------------------------------------------
class EnvironmentError_(AgentError):
    """A prerequisite (binary, artifact, manifest) is missing on this machine."""

    code = "ENVIRONMENT"


class ArtifactError(EnvironmentError_):
    code = "ARTIFACT_MISSING"


# --- chains -------------------------------------------------------------------------------
class ChainError(AgentError):
    code = "CHAIN_ERROR"


class DevnetError(ChainError):
    code = "DEVNET_ERROR"


class RpcError(ChainError):
    """The node answered with a JSON-RPC error object."""

    code = "RPC_ERROR"

    def __init__(self, message: str, *, rpc_code: int | None = None, data: object = None):
        self.rpc_code = rpc_code
        self.data = data
        super().__init__(message)


class WouldRevertError(RpcError):
    """A call reverts when simulated (eth_estimateGas / eth_call): nothing was signed. The
    message holds the decoded revert (agent.wallet.reverts); a PolicyModule refusal carries
    its POLICY_<STATUS> code instead of this class's."""

    code = "TX_WOULD_REVERT"


class RpcUnavailableError(ChainError):
    """The node did not answer (refused, timed out, garbage)."""

    code = "RPC_UNAVAILABLE"


class RpcResponseError(ChainError):
    """The node answered with something that is not valid JSON-RPC."""

    code = "RPC_BAD_RESPONSE"


class ChainIdMismatchError(ChainError):
    code = "CHAIN_ID_MISMATCH"


class TransactionFailedError(ChainError):
    """A transaction was mined but reverted."""

    code = "TX_REVERTED"


class NonceError(ChainError):
    code = "NONCE_ERROR"


class QuoteMismatchError(ChainError):
    code = "QUOTE_MISMATCH"


# --- signing ------------------------------------------------------------------------------
class SigningError(AgentError):
    code = "SIGNING_ERROR"


class KeystoreError(SigningError):
    code = "KEYSTORE_ERROR"


class UnsafePayloadError(SigningError):
    """What would be signed does not match what was shown or decoded: never sign it."""

    code = "UNSAFE_PAYLOAD"


class ModuleCheckError(SigningError):
    """The --module is not one the operator may sign for: no code (MODULE_NO_CODE), another
    Safe's (MODULE_WRONG_SAFE), not enabled on the Safe (MODULE_NOT_ENABLED), or no role for
    the operator (MODULE_NO_ROLE). Checked before anything is signed."""

    code = "MODULE_INVALID"


# --- orders, journal ----------------------------------------------------------------------
class OrderError(AgentError):
    code = "ORDER_ERROR"


class IllegalTransitionError(OrderError):
    code = "ILLEGAL_TRANSITION"


class DuplicateOrderError(OrderError):
    code = "DUPLICATE_CLIENT_ORDER_ID"


class JournalError(AgentError):
    code = "JOURNAL_ERROR"


class ConcurrencyConflictError(JournalError):
    code = "JOURNAL_CONFLICT"


class JournalTamperedError(JournalError):
    code = "JOURNAL_TAMPERED"


class NotAJournalError(JournalError):
    """The file is not an agent journal (another program's SQLite file, or not SQLite)."""

    code = "NOT_A_JOURNAL"


# --- venues -------------------------------------------------------------------------------
class VenueError(AgentError):
    code = "VENUE_ERROR"


class VenuePayloadError(VenueError):
    """A venue answered with a payload we cannot trust (missing fields, wrong types)."""

    code = "VENUE_BAD_PAYLOAD"


class VenueRejectedError(VenueError):
    code = "VENUE_REJECTED"


class NoRouteError(VenueError):
    code = "NO_ROUTE"


# --- policy and risk (configuration problems; refusals are events) -------------------------
class PolicyError(AgentError):
    code = "POLICY_ERROR"


class PolicyDeniedError(PolicyError):
    """The off-chain policy refused a transaction before signing; ``code``/``rule``/``reason``
    come from the Deny decision so the journal, CLI and API show the same words."""

    def __init__(self, code: str, reason: str, rule: str = "") -> None:
        super().__init__(reason + (f" (rule {rule})" if rule else ""), code=code)
        self.rule = rule
        self.reason = reason


class RiskError(AgentError):
    code = "RISK_ERROR"
