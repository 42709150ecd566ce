"""Send calls as the Safe through its PolicyModule, signed by the operator key.

Write-ahead: the signed raw transaction is journaled (TxSigned, durable) BEFORE broadcast,
so after a crash the same bytes (same hash) are re-broadcast instead of a second signature.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agent.chain.fees import FeeConfig, estimate_fees
from agent.chain.nonce import NonceManager
from agent.chain.rpc import RpcClient
from agent.errors import PolicyDeniedError, RpcError, TransactionFailedError
from agent.journal import ANY, Store
from agent.model.decisions import Decision
from agent.oms.events import TxMined, TxSent, TxSigned, tx_stream
from agent.signing.local import LocalSigner
from agent.signing.types import TxRequest
from agent.wallet.module import module_calldata
from agent.wallet.multisend import Call


class PreSignCheck(Protocol):
    """Checked on the exact calls the Safe will make, before anything is signed.

    The off-chain signing policy (agent.policy) implements this; a Deny stops the executor
    before signing, so nothing is signed or sent."""

    async def check(self, calls: Sequence[Call]) -> Decision: ...


@dataclass(frozen=True, slots=True)
class Execution:
    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[dict[str, Any], ...]


class ModuleExecutor:
    def __init__(
        self,
        rpc: RpcClient,
        signer: LocalSigner,
        *,
        module: str,
        multisend: str,
        chain_id: int,
        journal: Store,
        fees: FeeConfig | None = None,
        receipt_timeout: float = 60.0,
        guard: PreSignCheck | None = None,
    ) -> None:
        self.rpc = rpc
        self.signer = signer
        self.module = module
        self.multisend = multisend
        self.chain_id = chain_id
        self.journal = journal
        self.fees = fees or FeeConfig()
        self.nonces = NonceManager(rpc, signer.address)
        self.receipt_timeout = receipt_timeout
        self.stream = tx_stream(chain_id, signer.address)
        self.guard = guard

    def calldata(self, calls: Sequence[Call]) -> bytes:
        return module_calldata(calls, self.multisend)

    async def build(self, calls: list[Call]) -> TxRequest:
        data = self.calldata(calls)
        est = {"from": self.signer.address, "to": self.module, "data": "0x" + data.hex()}
        gas_hex, fees = await asyncio.gather(
            self.rpc.call("eth_estimateGas", [est]), estimate_fees(self.rpc, self.fees)
        )
        gas = int(gas_hex, 16)
        return TxRequest(
            chain_id=self.chain_id, nonce=await self.nonces.reserve(), to=self.module,
            data=data, gas=gas + gas // 5,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
        )  # fmt: skip

    async def execute(
        self,
        calls: list[Call],
        *,
        client_order_id: str | None = None,
        on_sent: Callable[[str], Awaitable[None]] | None = None,
    ) -> Execution:
        if self.guard is not None:
            decision = await self.guard.check(calls)
            if not decision.allowed:
                raise PolicyDeniedError(decision.code, decision.reason, decision.rule)
        req = await self.build(calls)
        signed = self.signer.sign_transaction_sync(req)
        tx_hash = signed.hash_hex
        await self.journal.append_async(
            self.stream, ANY,
            [TxSigned(self.chain_id, self.signer.address, req.nonce, tx_hash, signed.raw,
                      req.max_fee_per_gas, req.max_priority_fee_per_gas, client_order_id)],
        )  # fmt: skip
        await self.rpc.send_raw_transaction(signed.raw)
        await self.journal.append_async(
            self.stream, ANY, [TxSent(self.chain_id, self.signer.address, req.nonce, tx_hash)]
        )
        if on_sent is not None:
            await on_sent(tx_hash)
        receipt = await self.wait_receipt(tx_hash)
        ok = int(receipt["status"], 16) == 1
        mined = TxMined(
            self.chain_id, self.signer.address, req.nonce, tx_hash,
            int(receipt["blockNumber"], 16), receipt["blockHash"], ok,
            int(receipt["gasUsed"], 16), int(receipt.get("effectiveGasPrice", "0x0"), 16),
        )  # fmt: skip
        await self.journal.append_async(self.stream, ANY, [mined])
        if not ok:
            raise TransactionFailedError(f"module transaction {tx_hash} reverted")
        return Execution(
            tx_hash, mined.block_number, mined.gas_used, mined.effective_gas_price,
            tuple(receipt["logs"]),
        )  # fmt: skip

    async def wait_receipt(self, tx_hash: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.receipt_timeout
        delay = 0.005
        while True:
            try:
                r = await self.rpc.get_transaction_receipt(tx_hash)
            except RpcError:
                r = None
            if r is not None:
                return r
            if time.monotonic() > deadline:
                raise TransactionFailedError(
                    f"no receipt for {tx_hash} after {self.receipt_timeout}s; it stays tracked"
                )
            await asyncio.sleep(delay)  # poll backoff for the node, not a stand-in for sync
            delay = min(delay * 2, 0.25)
