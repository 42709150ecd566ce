"""Thin async chain access for the bridge: simulate-then-send with typed reverts, and logs.

Every write is simulated first (eth_estimateGas runs the call against the pending state): a
message the contract would refuse raises a :mod:`agent.bridge.errors` error and nothing is
signed or sent. Nonces come from agent.chain's NonceManager (one per signer; a nonce that
was never broadcast is released, so no gap is left) and fees from agent.chain.fees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.bridge.abi import ContractAbi
from agent.bridge.errors import rejected
from agent.chain.fees import FeeConfig, estimate_fees
from agent.chain.nonce import NonceManager
from agent.chain.rpc import RpcClient, qty
from agent.errors import RpcError, TransactionFailedError
from agent.signing import LocalSigner, TxRequest


@dataclass(frozen=True, slots=True)
class Sent:
    tx_hash: str
    block: int
    gas_used: int
    logs: tuple[dict[str, Any], ...]


def _revert_data(e: RpcError) -> str | None:
    d = e.data
    if isinstance(d, dict):  # some nodes nest it: {"data": "0x..."}
        d = d.get("data")
    return d if isinstance(d, str) and d.startswith("0x") else None


class Chain:
    """One chain as the bridge code sees it. Owns nothing but nonce counters; the RpcClient
    is the caller's."""

    def __init__(self, rpc: RpcClient, name: str, fees: FeeConfig | None = None) -> None:
        self.rpc = rpc
        self.name = name
        self.fees = fees or FeeConfig()
        self._nonces: dict[str, NonceManager] = {}

    @property
    def chain_id(self) -> int:
        assert self.rpc.chain_id is not None, "connect() the RpcClient first"
        return self.rpc.chain_id

    async def head(self) -> int:
        return await self.rpc.block_number()

    async def timestamp(self, block: str | int = "latest") -> int:
        b = await self.rpc.get_block(block)
        return qty(b["timestamp"], "timestamp") if b else 0

    async def call(
        self, to: str, data: bytes, abi: ContractAbi, *, context: str, sender: str | None = None
    ) -> str:
        tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
        if sender:
            tx["from"] = sender
        try:
            return await self.rpc.call("eth_call", [tx, "latest"])
        except RpcError as e:
            raise self._typed(e, abi, context) from e

    async def logs(
        self, address: str, topics: Sequence[str | None], from_block: int, to_block: int
    ) -> list[dict[str, Any]]:
        if to_block < from_block:
            return []
        return await self.rpc.call(
            "eth_getLogs",
            [
                {
                    "address": address,
                    "topics": list(topics),
                    "fromBlock": hex(from_block),
                    "toBlock": hex(to_block),
                }
            ],
        )

    async def send(
        self,
        signer: LocalSigner,
        to: str,
        data: bytes,
        abi: ContractAbi,
        *,
        context: str,
        timeout: float = 30.0,
    ) -> Sent:
        """Simulate, sign, send, and wait for the receipt; a revert raises a typed error."""
        call = {"from": signer.address, "to": to, "data": "0x" + data.hex()}
        try:
            gas = qty(await self.rpc.call("eth_estimateGas", [call]), "eth_estimateGas")
        except RpcError as e:
            raise self._typed(e, abi, context) from e
        nonces = self._nonces.setdefault(signer.address, NonceManager(self.rpc, signer.address))
        fees = await estimate_fees(self.rpc, self.fees)
        nonce = await nonces.reserve()
        try:
            signed = await signer.sign_transaction(
                TxRequest(
                    chain_id=self.chain_id, nonce=nonce, to=to, data=data,
                    gas=gas * 12 // 10 + 10_000, max_fee_per_gas=fees.max_fee_per_gas,
                    max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
                )
            )  # fmt: skip
            tx_hash = await self.rpc.send_raw_transaction(signed.raw)
        except BaseException:
            nonces.release(nonce)  # never broadcast: hand it out again
            await nonces.sync()  # and follow the chain if it moved (e.g. a reverted devnet)
            raise
        nonces.observe_sent([nonce])
        receipt = await self.wait_receipt(tx_hash, timeout)
        if qty(receipt["status"], "status") != 1:
            raise TransactionFailedError(f"{self.name}: {context} reverted on-chain: {tx_hash}")
        return Sent(
            tx_hash,
            qty(receipt["blockNumber"], "blockNumber"),
            qty(receipt["gasUsed"], "gasUsed"),
            tuple(receipt["logs"]),
        )

    async def wait_receipt(self, tx_hash: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            r = await self.rpc.get_transaction_receipt(tx_hash)
            if r is not None:
                return r
            if time.monotonic() > deadline:
                raise TransactionFailedError(f"{self.name}: no receipt for {tx_hash} in {timeout}s")
            await asyncio.sleep(delay)  # polling the node for a receipt, with a deadline
            delay = min(delay * 2, 0.2)

    def _typed(self, e: RpcError, abi: ContractAbi, context: str) -> Exception:
        decoded = abi.decode_error(_revert_data(e))
        if decoded is None:
            return e
        return rejected(decoded[0], decoded[1], f"{self.name}: {context}")
