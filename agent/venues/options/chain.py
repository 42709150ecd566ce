"""A small async transaction sender for the options venue: eth_call, estimate, sign with the
agent's Signer, send, and wait for the receipt (polling until mined, with a timeout).

It uses agent.chain's RpcClient and agent.signing's LocalSigner; nonces are tracked locally
(seeded from the node's pending count) so back-to-back sends do not wait on each other.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from agent.chain.fees import FeeConfig, estimate_fees
from agent.chain.rpc import RpcClient
from agent.errors import RpcError, TransactionFailedError
from agent.signing.local import LocalSigner
from agent.signing.types import TxRequest

TIP = 10**9
FEES = FeeConfig(min_priority_fee=TIP)


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_hash: str
    status: int  # 1 success, 0 reverted
    gas_used: int
    block: int
    logs: tuple[dict[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == 1


class ChainClient:
    def __init__(self, rpc: RpcClient, signer: LocalSigner, chain_id: int) -> None:
        self.rpc = rpc
        self.signer = signer
        self.chain_id = chain_id
        self._nonce: int | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, rpc_url: str, key: str, chain_id: int | None = None) -> ChainClient:
        rpc = await RpcClient(rpc_url, expected_chain_id=chain_id).connect()
        assert rpc.chain_id is not None
        return cls(rpc, LocalSigner(key), rpc.chain_id)

    async def close(self) -> None:
        await self.rpc.close()

    @property
    def address(self) -> str:
        return self.signer.address

    async def call(self, to: str, data: bytes, block: str = "latest") -> bytes:
        raw = await self.rpc.call(
            "eth_call", [{"to": to_checksum_address(to), "data": "0x" + data.hex()}, block]
        )
        return bytes.fromhex(raw[2:])

    async def now(self) -> int:
        """Timestamp of the latest block (the chain's clock, which devnets may warp)."""
        blk = await self.rpc.get_block("latest")
        assert blk is not None
        return int(blk["timestamp"], 16)

    async def send(
        self, to: str, data: bytes, *, value: int = 0, gas: int | None = None, timeout: float = 30
    ) -> TxResult:
        """Sign and send; returns the receipt's outcome. A revert in gas estimation raises
        RpcError (nothing was sent); pass ``gas`` to send regardless."""
        tx: dict[str, Any] = {
            "from": self.address, "to": to_checksum_address(to),
            "data": "0x" + data.hex(), "value": hex(value),
        }  # fmt: skip
        # fees as the TxEngine estimates them (agent.chain.fees), not a formula of our own
        if gas is None:
            est, fees = await asyncio.gather(
                self.rpc.call("eth_estimateGas", [tx]), estimate_fees(self.rpc, FEES)
            )
            gas = int(est, 16) * 12 // 10 + 20_000
        else:
            fees = await estimate_fees(self.rpc, FEES)
        async with self._lock:
            if self._nonce is None:
                self._nonce = await self.rpc.get_transaction_count(self.address, "pending")
            nonce = self._nonce
            signed = await self.signer.sign_transaction(
                TxRequest(
                    chain_id=self.chain_id, nonce=nonce, to=to_checksum_address(to),
                    value=value, data=data, gas=gas, max_fee_per_gas=fees.max_fee_per_gas,
                    max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                )
            )  # fmt: skip
            try:
                h = await self.rpc.send_raw_transaction(signed.raw)
            except RpcError:
                self._nonce = None  # resync on the next send
                raise
            self._nonce = nonce + 1
        return await self.wait(h, timeout)

    async def wait(self, tx_hash: str, timeout: float = 30) -> TxResult:
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            r = await self.rpc.get_transaction_receipt(tx_hash)
            if r is not None:
                return TxResult(
                    tx_hash, int(r["status"], 16), int(r["gasUsed"], 16),
                    int(r["blockNumber"], 16), tuple(r.get("logs", ())),
                )  # fmt: skip
            if time.monotonic() > deadline:
                raise TransactionFailedError(f"no receipt for {tx_hash} after {timeout}s")
            await asyncio.sleep(delay)  # polling for the mined receipt, bounded by the deadline
            delay = min(delay * 2, 0.05)
