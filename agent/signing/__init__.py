"""Signers: the Signer protocol, a local keystore signer, and the fast EIP-1559 signing path."""

from agent.signing.backend import BackendInfo, FastBackendMissingError, check_fast_backend
from agent.signing.eip1559 import keccak256, sign_eip1559, signing_digest
from agent.signing.local import LocalSigner
from agent.signing.protocol import Signer, TypedData
from agent.signing.types import SignedTx, TxRequest

__all__ = [
    "BackendInfo",
    "FastBackendMissingError",
    "LocalSigner",
    "SignedTx",
    "Signer",
    "TxRequest",
    "TypedData",
    "check_fast_backend",
    "keccak256",
    "sign_eip1559",
    "signing_digest",
]
