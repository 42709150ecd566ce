"""One way to get a transaction signed by any Signer: local, remote or threshold.

A signer with a synchronous path (``sign_transaction_sync``: the local key) is called
directly: no task, no timer, so the hot path stays as fast as before. Any other signer is
awaited under a timeout, its failures become typed errors (agent.signing.errors), and what
it returns is checked before anyone journals it: the signed bytes must decode to exactly the
request that was asked for, hash to the hash returned, and recover to the signer's address.
A remote signer is another process: the engine trusts nothing it says about what it signed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import coincurve

from agent.errors import AgentError, ValidationError
from agent.signing.eip1559 import (
    address_of,
    decode_signed,
    encode_fields,
    keccak256,
    signing_digest,
)
from agent.signing.errors import (
    SignerFailedError,
    SignerMismatchError,
    SignerTimeoutError,
    SignerUnavailableError,
)
from agent.signing.types import SignedTx, TxRequest

DEFAULT_TIMEOUT = 10.0  # seconds; a two-party signature over a LAN takes tens of ms


def is_local(signer: Any) -> bool:
    return callable(getattr(signer, "sign_transaction_sync", None))


async def sign_tx(signer: Any, req: TxRequest, *, timeout: float = DEFAULT_TIMEOUT) -> SignedTx:
    """Sign ``req`` with ``signer``; raise a SigningError subclass (never anything else from
    the signer) if it cannot. The local fast path returns without awaiting."""
    fn = getattr(signer, "sign_transaction_sync", None)
    if fn is not None:
        return fn(req)
    sign = getattr(signer, "sign_transaction", None)
    if sign is None:
        raise ValidationError(
            "signer", f"{type(signer).__name__} has no sign_transaction", "pass a Signer"
        )
    name = getattr(signer, "address", type(signer).__name__)
    try:
        st = await asyncio.wait_for(sign(req), timeout)
    except TimeoutError as e:
        raise SignerTimeoutError(
            f"signer {name} did not answer within {timeout:g}s; nothing was signed or sent "
            "(check the signer process, or raise the engine's sign_timeout)"
        ) from e
    except AgentError:
        raise
    except (ConnectionError, OSError, EOFError, asyncio.IncompleteReadError) as e:
        raise SignerUnavailableError(
            f"signer {name} is unreachable ({type(e).__name__}: {e}); nothing was signed or "
            "sent; start the signer process or fix its address"
        ) from e
    except Exception as e:  # the signer's own bug: typed, not a traceback
        raise SignerFailedError(
            f"signer {name} failed ({type(e).__name__}: {e}); nothing was sent"
        ) from e
    check_signed(req, st, getattr(signer, "address", ""))
    return st


def check_signed(req: TxRequest, st: Any, address: str) -> None:
    """Refuse a SignedTx that is not a signature by ``address`` over exactly ``req``."""
    if not isinstance(st, SignedTx):
        raise SignerMismatchError(f"signer returned {type(st).__name__}, not a SignedTx")
    try:
        inner = decode_signed(st.raw)
    except Exception as e:
        raise SignerMismatchError(f"signed bytes do not decode as a type-2 tx ({e})") from e
    want = encode_fields(req)  # compare what is signed, byte for byte (address case aside)
    if encode_fields(inner) != want or encode_fields(st.tx) != want:
        raise SignerMismatchError(
            "the signer signed a different transaction than requested; refusing it"
        )
    if keccak256(st.raw) != st.hash:
        raise SignerMismatchError("the returned hash is not keccak(raw); refusing it")
    import rlp as _rlp

    try:
        y, r, s = (int.from_bytes(b, "big") for b in _rlp.decode(st.raw[1:])[9:12])
        if (y, r, s) != (st.y_parity, st.r, st.s) or y > 1:
            raise ValueError("v, r, s in the raw bytes differ from the returned ones")
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y,))
        pub = coincurve.PublicKey.from_signature_and_message(sig, signing_digest(req), hasher=None)
    except Exception as e:
        raise SignerMismatchError(f"the signature does not recover ({e})") from e
    got = address_of(pub.format(compressed=False))
    if got.lower() != address.lower() or st.sender.lower() != address.lower():
        raise SignerMismatchError(
            f"the signature recovers to {got}, not the signer's address {address}; refusing it"
        )
