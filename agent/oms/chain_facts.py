"""A :class:`agent.oms.recovery.ChainFactsSource` over any JSON-RPC client with the typed
helpers of :class:`agent.chain.rpc.RpcClient` (get_transaction_count, get_transaction_receipt,
get_transaction). A node answer that is not a receipt is a typed error, never a guess."""

from __future__ import annotations

from typing import Any, Protocol

from agent.errors import RpcResponseError
from agent.oms.reconcile import Receipt


class _Rpc(Protocol):
    async def get_transaction_count(self, address: str, block: str = "latest") -> int: ...

    async def get_transaction_receipt(self, tx_hash: str) -> dict[str, Any] | None: ...

    async def get_transaction(self, tx_hash: str) -> dict[str, Any] | None: ...


def _int(v: Any, what: str) -> int:
    if isinstance(v, str) and v.startswith("0x"):
        try:
            return int(v, 16)
        except ValueError:
            pass
    raise RpcResponseError(f"{what}: {v!r} is not a hex quantity")


def parse_receipt(tx_hash: str, rc: dict[str, Any]) -> Receipt:
    if not isinstance(rc, dict) or not isinstance(rc.get("blockHash"), str):
        raise RpcResponseError(
            f"eth_getTransactionReceipt({tx_hash}): not a receipt: {str(rc)[:120]}"
        )
    return Receipt(
        tx_hash,
        _int(rc.get("blockNumber"), "receipt.blockNumber"),
        rc["blockHash"],
        _int(rc.get("status"), "receipt.status") == 1,
        _int(rc.get("gasUsed", "0x0"), "receipt.gasUsed"),
        _int(rc.get("effectiveGasPrice", "0x0"), "receipt.effectiveGasPrice"),
    )


class RpcChainFacts:
    """``raw`` keeps every receipt asked for, as the node sent it (logs included), so a
    venue's fill decoder can read the logs without asking the node again."""

    def __init__(self, rpc: _Rpc, chain_id: int) -> None:
        self.rpc = rpc
        self.chain_id = chain_id
        self.raw: dict[str, dict[str, Any]] = {}

    async def nonce(self, sender: str) -> int:
        return await self.rpc.get_transaction_count(sender, "latest")

    async def receipt(self, tx_hash: str) -> Receipt | None:
        rc = await self.rpc.get_transaction_receipt(tx_hash)
        if rc is None:
            return None
        parsed = parse_receipt(tx_hash, rc)
        self.raw[tx_hash] = rc
        return parsed

    async def is_pending(self, tx_hash: str) -> bool:
        tx = await self.rpc.get_transaction(tx_hash)
        return tx is not None and tx.get("blockNumber") is None
