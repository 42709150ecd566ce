"""The agent side of the co-signer: ask for a co-signature on the exact module call, verify it.

The client recomputes the EIP-712 digest from the call it sent and the nonce/deadline the
co-signer chose, and recovers the signer from the signature: an answer from another key, or
over another call, is refused (SignerMismatchError) before anything is signed by the
operator. A Deny raises SignerRefusedError with the co-signer's (the policy's) code; a
co-signer that is down or slow raises SignerUnavailableError / SignerTimeoutError, so the
order stays unsent with a reason.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import coincurve

from agent.chain.rpc_http import ConnectError, HttpPool, TruncatedError
from agent.signing.cosigner.wire import (
    BadRequest,
    Cosignature,
    CosignRequest,
    ModuleCall,
    cosign_digest,
    parse_cosignature,
)
from agent.signing.eip1559 import address_of
from agent.signing.errors import (
    SignerMismatchError,
    SignerRefusedError,
    SignerTimeoutError,
    SignerUnavailableError,
)

ENV_URL = "AGENT_COSIGNER_URL"


def recover(digest: bytes, signature: bytes) -> str:
    """The checksummed address that made the 65-byte r||s||v ``signature`` over ``digest``."""
    v = signature[64]
    rec = v - 27 if v >= 27 else v
    if rec not in (0, 1):
        raise ValueError(f"v = {v}")
    pub = coincurve.PublicKey.from_signature_and_message(
        signature[:64] + bytes((rec,)), digest, hasher=None
    )
    return address_of(pub.format(compressed=False))


class CosignerClient:
    """``await client.cosign(module=..., chain_id=..., operator=..., call=...)`` ->
    :class:`Cosignature`. ``cosigner``: the address the module requires (checked on every
    answer); None accepts the co-signer the first answer names (tests only)."""

    def __init__(self, url: str, *, cosigner: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.cosigner = cosigner
        self.timeout = timeout
        self._session: HttpPool | None = None

    def _http(self) -> HttpPool:
        # keep-alive POSTs on the chain client's lean transport (agent.chain.rpc_http)
        if self._session is None or self._session.closed:
            self._session = HttpPool(f"{self.url}/v1/cosign", limit=8)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def cosign(
        self,
        *,
        module: str,
        chain_id: int,
        operator: str,
        call: ModuleCall,
        context: dict[str, Any] | None = None,
    ) -> Cosignature:
        req = CosignRequest(chain_id, module, operator, call, context or {})
        http = self._http()
        try:
            async with asyncio.timeout(self.timeout):
                status, raw = await http.post(json.dumps(req.to_json()).encode())
        except TimeoutError as e:
            raise SignerTimeoutError(
                f"co-signer {self.url} did not answer within {self.timeout}s; nothing was sent"
            ) from e
        except (ConnectError, TruncatedError, OSError) as e:
            raise SignerUnavailableError(
                f"co-signer {self.url} is unreachable ({type(e).__name__}: {e}); nothing was sent"
            ) from e
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SignerUnavailableError(
                f"co-signer {self.url} answered HTTP {status} without JSON"
            )
        if body.get("status") == "denied":
            raise SignerRefusedError(
                f"co-signer refused: {body.get('reason', '?')} [rule: {body.get('rule', '?')}]",
                code=str(body.get("code") or "SIGNER_REFUSED"),
            )
        try:
            got = parse_cosignature(body)
        except BadRequest as e:
            raise SignerMismatchError(f"co-signer answer malformed: {e}") from None
        digest = cosign_digest(
            module=module, chain_id=chain_id, to=call.to, value=call.value, data=call.data,
            operation=call.operation, nonce=got.nonce, deadline=got.deadline,
        )  # fmt: skip
        try:
            who = recover(digest, got.signature)
        except Exception as e:  # coincurve raises its own error types on junk signatures
            raise SignerMismatchError(f"co-signature does not recover ({e})") from None
        want = self.cosigner or got.cosigner
        if who.lower() != want.lower():
            raise SignerMismatchError(
                f"co-signature is from {who}, not the module's co-signer {want}: nothing was sent"
            )
        return got


async def cosigner_client(rpc: Any, module: str, role: int, url: str) -> CosignerClient:
    """The client for ``role`` of ``module``, pinned to the co-signer the module requires
    (``cosignerOf(role)``, read from the chain, not from the co-signer)."""
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector as fsel
    from eth_utils import to_checksum_address

    from agent.errors import ValidationError

    data = "0x" + (fsel("cosignerOf(uint16)") + encode(["uint16"], [role])).hex()
    raw = await rpc.call("eth_call", [{"to": module, "data": data}, "latest"])
    who = int(raw, 16) if isinstance(raw, str) and len(raw) >= 66 else 0
    if not who:
        raise ValidationError(
            ENV_URL,
            f"role {role} of module {module} requires no co-signer",
            f"unset {ENV_URL}, or have the owners set requires_cosigner and apply the policy",
        )
    return CosignerClient(url, cosigner=to_checksum_address(f"0x{who:040x}"))
