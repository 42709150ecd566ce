"""One account's plain sends through its own TxEngine, waiting for the receipt.

For the callers that send as an EOA rather than as the Safe's module: the owners' submitter of
``Safe.execTransaction`` (agent.venues.options.executor), the market maker's hedges and the
bridge relayers (one account, so one engine and one journal stream ``tx-<chain>-<sender>``,
per relayer key). Nonces come from the engine's NonceManager, fees from its estimator, and a
crash after signing re-broadcasts the journaled bytes instead of signing again.

Reads (``call``, ``now``) go straight to the RpcClient: no engine involved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from agent.chain.fees import FeeConfig
from agent.chain.rpc import RpcClient
from agent.chain.txengine.config import EngineConfig
from agent.chain.txengine.engine import TxEngine, TxSpec
from agent.errors import TransactionFailedError, ValidationError
from agent.oms.tx import TxRecord, TxState

_MINED = frozenset({TxState.MINED, TxState.CONFIRMED})


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_hash: str
    status: int  # 1 success, 0 reverted
    gas_used: int
    block: int
    logs: tuple[dict[str, Any], ...] = ()
    effective_gas_price: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 1


async def wait_mined(engine: TxEngine, tx_hash: str, timeout: float) -> TxRecord:
    """Poll ``engine`` until ``tx_hash`` or a replacement for its nonce is mined; a nonce
    whose every attempt was dropped raises TransactionFailedError."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        await engine.poll()
        nonce = engine.records[tx_hash].nonce
        hashes = engine.by_nonce.get(nonce, ())
        for h in hashes:
            if engine.records[h].state in _MINED:
                return engine.records[h]
        if all(engine.records[h].state is TxState.DROPPED for h in hashes):
            why = engine.records[tx_hash].reason or "nonce used elsewhere"
            raise TransactionFailedError(f"{tx_hash} was dropped: {why}")
        if time.monotonic() > deadline:
            raise TransactionFailedError(
                f"no receipt for {tx_hash} after {timeout}s; it stays tracked"
            )
        await asyncio.sleep(delay)  # poll backoff for the node, not a stand-in for sync
        delay = min(delay * 2, 0.05)


class EngineAccount:
    """``rpc``/``signer``/``journal`` make the engine unless ``engine`` is given (share one
    engine per account: two engines over one key would hand out the same nonces)."""

    def __init__(
        self,
        rpc: RpcClient,
        signer: Any,
        journal: Any,
        *,
        chain_id: int | None = None,
        fees: FeeConfig | None = None,
        confirmations: int = 1,
        engine: TxEngine | None = None,
    ) -> None:
        cid = chain_id if chain_id is not None else rpc.chain_id
        if cid is None:
            raise ValueError("connect() the RpcClient or pass chain_id")
        self.rpc = rpc
        self.signer = signer
        self.chain_id = cid
        self.engine = engine or TxEngine(
            rpc,
            signer,
            journal,
            EngineConfig(chain_id=cid, confirmations=confirmations, fees=fees or FeeConfig()),
        )
        self._start_lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls, rpc_url: str, key: str, chain_id: int | None = None, *, journal: Any = None
    ) -> EngineAccount:
        """``journal`` holds the engine's tx stream; an account that only reads needs none."""
        from agent.signing.local import LocalSigner

        rpc = await RpcClient(rpc_url, expected_chain_id=chain_id).connect()
        return cls(rpc, LocalSigner(key), journal)

    @property
    def address(self) -> str:
        return self.signer.address

    async def close(self) -> None:
        if self.engine.started:
            await self.engine.flush()
        await self.rpc.close()

    # --- reads (RpcClient) -------------------------------------------------------------------
    async def call(self, to: str, data: bytes, block: str = "latest") -> bytes:
        return await self.rpc.eth_call(to_checksum_address(to), data, block)

    async def now(self) -> int:
        """Timestamp of the latest block (the chain's clock, which devnets may warp)."""
        blk = await self.rpc.get_block("latest")
        assert blk is not None
        return int(blk["timestamp"], 16)

    async def estimate_gas(self, to: str, data: bytes, value: int = 0) -> int:
        """The node's estimate plus headroom; a revert raises RpcError (nothing is signed)."""
        tx = {
            "from": self.address, "to": to_checksum_address(to),
            "data": "0x" + data.hex(), "value": hex(value),
        }  # fmt: skip
        est = int(await self.rpc.call("eth_estimateGas", [tx]), 16)
        return est * 12 // 10 + 20_000  # state may move between estimate and inclusion

    # --- sends (TxEngine) --------------------------------------------------------------------
    async def start(self) -> None:
        async with self._start_lock:
            if self.engine.journal is None:
                raise ValidationError(
                    "journal", "is missing: this account was opened to read only",
                    "pass journal= to EngineAccount.connect to send",
                )  # fmt: skip
            if not self.engine.started:
                await self.engine.start()

    async def send(
        self,
        to: str,
        data: bytes,
        *,
        value: int = 0,
        gas: int | None = None,
        timeout: float = 30,
        client_order_id: str | None = None,
        on_sent: Callable[[str], Awaitable[None]] | None = None,
    ) -> TxResult:
        """Estimate (a revert raises RpcError: nothing was signed; pass ``gas`` to send
        regardless), send through the engine and wait for the receipt."""
        if gas is None:
            gas = await self.estimate_gas(to, data, value)
        await self.start()
        res = await self.engine.send(
            TxSpec(
                to=to_checksum_address(to), value=value, data=data, gas=gas,
                client_order_id=client_order_id,
            )
        )  # fmt: skip
        if res.record.state is TxState.DROPPED:
            raise res.error or TransactionFailedError(f"the node refused {res.tx_hash}")
        if on_sent is not None:  # SENT, or SIGNED with a fate the engine's poll settles
            await on_sent(res.tx_hash)
        return await self.wait(res.tx_hash, timeout)

    async def wait(self, tx_hash: str, timeout: float = 30) -> TxResult:
        rec = await wait_mined(self.engine, tx_hash, timeout)
        r = await self.rpc.get_transaction_receipt(rec.tx_hash)
        if r is None:  # reorged out between the poll and this read: wait again
            return await self.wait(rec.tx_hash, timeout)
        return TxResult(
            rec.tx_hash, int(r["status"], 16), int(r["gasUsed"], 16), int(r["blockNumber"], 16),
            tuple(r.get("logs", ())), int(r.get("effectiveGasPrice", "0x0"), 16),
        )  # fmt: skip
