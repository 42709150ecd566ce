"""The Signer protocol (DESIGN.md): anything that can sign a transaction and typed data."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from agent.signing.types import SignedTx, TxRequest

TypedData = dict[str, Any]  # EIP-712 full message: {"types", "primaryType", "domain", "message"}


@runtime_checkable
class Signer(Protocol):
    address: str

    async def sign_transaction(self, tx: TxRequest) -> SignedTx: ...

    async def sign_typed_data(self, typed: TypedData) -> bytes: ...
