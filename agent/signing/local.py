"""A local signer: one secp256k1 key held in memory, loaded from a keystore file or env var.

Transactions go through the fast coincurve path (:mod:`agent.signing.eip1559`); EIP-712 typed
data uses eth-account only to compute the digest (not a hot path) and coincurve to sign.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import coincurve

from agent.errors import KeystoreError, ValidationError
from agent.signing.backend import check_fast_backend
from agent.signing.eip1559 import address_of, keccak256, sign_eip1559
from agent.signing.protocol import TypedData
from agent.signing.types import SignedTx, TxRequest

ENV_KEY = "AGENT_SIGNER_KEY"  # hex private key (dev/test only)
ENV_KEYSTORE = "AGENT_KEYSTORE"  # path to an encrypted JSON keystore (v3)
ENV_KEYSTORE_PASSWORD = "AGENT_KEYSTORE_PASSWORD"


def _parse_key(field: str, key: str | bytes) -> bytes:
    if isinstance(key, str):
        k = key[2:] if key[:2] in ("0x", "0X") else key
        try:
            raw = bytes.fromhex(k.strip())
        except ValueError:
            raw = b""
    else:
        raw = bytes(key)
    if len(raw) != 32 or not 0 < int.from_bytes(raw, "big") < coincurve.utils.GROUP_ORDER_INT:
        # never echo the value: it may be a real key with a typo
        raise ValidationError(
            field, "is not a valid 32-byte secp256k1 private key", "pass 0x + 64 hex digits"
        )
    return raw


class LocalSigner:
    """Signs with a key in process memory. ``address`` is EIP-55 checksummed."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: str | bytes, *, check_backend: bool = True) -> None:
        if check_backend:
            check_fast_backend()
        self._key = coincurve.PrivateKey(_parse_key("private_key", private_key))
        self.address: str = address_of(self._key.public_key.format(compressed=False))

    def __repr__(self) -> str:  # never print the key
        return f"LocalSigner({self.address})"

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_keystore(cls, path: str | Path, password: str) -> LocalSigner:
        from eth_account import Account

        p = Path(path)
        try:
            blob = json.loads(p.read_text())
        except FileNotFoundError as e:
            raise KeystoreError(
                f"keystore {p}: file not found; pass the path to a JSON keystore"
            ) from e
        except (OSError, ValueError) as e:
            raise KeystoreError(f"keystore {p}: not a readable JSON keystore ({e})") from e
        try:
            key = Account.decrypt(blob, password)
        except ValueError as e:
            raise KeystoreError(
                f"keystore {p}: wrong password or corrupt file; check {ENV_KEYSTORE_PASSWORD}"
            ) from e
        except Exception as e:
            raise KeystoreError(
                f"keystore {p}: cannot decrypt ({type(e).__name__}); is it a v3 keystore?"
            ) from e
        return cls(bytes(key))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LocalSigner:
        """Load from ``AGENT_SIGNER_KEY`` or ``AGENT_KEYSTORE`` + ``AGENT_KEYSTORE_PASSWORD``."""
        e = os.environ if env is None else env
        if e.get(ENV_KEY):
            try:
                return cls(e[ENV_KEY])
            except ValidationError as err:
                raise ValidationError(ENV_KEY, err.problem, err.fix) from None
        if e.get(ENV_KEYSTORE):
            if ENV_KEYSTORE_PASSWORD not in e:
                raise ValidationError(
                    ENV_KEYSTORE_PASSWORD, "is not set", "export the keystore password"
                )
            return cls.from_keystore(e[ENV_KEYSTORE], e[ENV_KEYSTORE_PASSWORD])
        raise ValidationError(
            ENV_KEY, "no signing key configured", f"set {ENV_KEY} or {ENV_KEYSTORE}"
        )

    @staticmethod
    def write_keystore(
        private_key: str | bytes, password: str, path: str | Path, *, iterations: int | None = None
    ) -> Path:
        """Encrypt a key to a v3 JSON keystore (scrypt) with file mode 0600."""
        from eth_account import Account

        kw: dict[str, Any] = {"iterations": iterations} if iterations else {}
        blob = Account.encrypt(_parse_key("private_key", private_key), password, **kw)
        p = Path(path)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(blob, f)
        return p

    # --- signing ------------------------------------------------------------------------
    def sign_transaction_sync(self, tx: TxRequest) -> SignedTx:
        return sign_eip1559(self._key, self.address, tx)

    async def sign_transaction(self, tx: TxRequest) -> SignedTx:
        return sign_eip1559(self._key, self.address, tx)

    def sign_digest(self, digest: bytes) -> bytes:
        """65-byte r||s||v signature (v = 27 + recovery id) over a 32-byte digest."""
        if len(digest) != 32:
            raise ValidationError("digest", f"{len(digest)} bytes", "pass a 32-byte hash")
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes((27 + sig[64],))

    async def sign_typed_data(self, typed: TypedData) -> bytes:
        from eth_account.messages import encode_typed_data

        try:
            msg = encode_typed_data(full_message=typed)
        except Exception as e:
            raise ValidationError(
                "typed_data", f"not valid EIP-712 ({e})", "pass types, primaryType, domain, message"
            ) from e
        return self.sign_digest(keccak256(b"\x19" + msg.version + msg.header + msg.body))
