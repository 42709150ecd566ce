"""Start-up check that the fast secp256k1 backend (coincurve over libsecp256k1) is active.

If coincurve were missing or broken, a fallback to pure-Python ECDSA would be 100x slower
and silently ruin the hot path; so the agent refuses to start instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.errors import SigningError

# A fixed vector: a fixed key signing a fixed tx; expected raw bytes computed with eth-account
# (tests/unit/signing re-derives it with eth-account, so this constant cannot rot unnoticed).
_VECTOR_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
KNOWN_VECTOR_SENDER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
KNOWN_VECTOR_HASH = "0xd1f8e098a58eeb039c96ec6d1c27c5d0c88bb889f12134d1090261383c06cada"


class FastBackendMissingError(SigningError):
    code = "SIGNING_BACKEND_SLOW"


@dataclass(frozen=True)
class BackendInfo:
    name: str
    version: str
    library: str


def check_fast_backend() -> BackendInfo:
    """Raise FastBackendMissingError unless coincurve's compiled libsecp256k1 signs correctly."""
    try:
        import coincurve
        from coincurve._libsecp256k1 import ffi, lib  # compiled CFFI module, not a Python fallback
    except Exception as e:  # ImportError or a broken shared library
        raise FastBackendMissingError(
            f"coincurve with its compiled libsecp256k1 is not importable ({e}); "
            "reinstall it: .venv/bin/pip install --force-reinstall coincurve"
        ) from e
    if not hasattr(lib, "secp256k1_ecdsa_sign_recoverable"):
        raise FastBackendMissingError(
            "coincurve's libsecp256k1 lacks the recovery module; reinstall coincurve from a wheel"
        )
    from agent.signing.eip1559 import address_of, sign_eip1559
    from agent.signing.types import TxRequest

    key = coincurve.PrivateKey(_VECTOR_KEY)
    sender = address_of(key.public_key.format(compressed=False))
    tx = TxRequest(
        chain_id=1,
        nonce=0,
        to="0x" + "11" * 20,
        value=1,
        gas=21000,
        max_fee_per_gas=2_000_000_000,
        max_priority_fee_per_gas=1_000_000_000,
    )
    signed = sign_eip1559(key, sender, tx)
    if signed.hash_hex != KNOWN_VECTOR_HASH or sender != KNOWN_VECTOR_SENDER:
        raise FastBackendMissingError(
            f"the fast signer produced {signed.hash_hex} for the known vector, expected "
            f"{KNOWN_VECTOR_HASH}; the secp256k1 backend is broken, do not sign with it"
        )
    return BackendInfo(
        name="coincurve",
        version=getattr(coincurve, "__version__", "?"),
        library=type(ffi).__module__,
    )
