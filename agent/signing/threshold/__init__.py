"""Two-party threshold ECDSA on secp256k1 (Lindell, CRYPTO 2017), unaudited: docs/signing.md.

Party 1 (the agent, :class:`ThresholdSigner`) and party 2 (:class:`SignerService`, run by
``agent signer serve``) each hold a share; the operator address is the joint public key's;
the whole key never exists in one process, in key generation (``agent signer keygen``) or
in signing.
"""

from agent.signing.threshold.errors import (
    ThresholdError,
    TssAbortedError,
    TssBadMessageError,
    TssBadProofError,
    TssShareError,
)
from agent.signing.threshold.party import SignerService, run_keygen_p1, run_keygen_p2
from agent.signing.threshold.share import P1Share, P2Share, read_share, write_share
from agent.signing.threshold.signer import ThresholdSigner

__all__ = [
    "P1Share",
    "P2Share",
    "SignerService",
    "ThresholdError",
    "ThresholdSigner",
    "TssAbortedError",
    "TssBadMessageError",
    "TssBadProofError",
    "TssShareError",
    "read_share",
    "run_keygen_p1",
    "run_keygen_p2",
    "write_share",
]
