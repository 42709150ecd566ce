"""Thin async chain access for the bridge: simulate-then-send with typed reverts, and logs.

Every write is simulated first (eth_estimateGas runs the call against the pending state): a
message the contract would refuse raises a :mod:`agent.bridge.errors` error and nothing is
signed or sent. The send itself goes through agent.chain.txengine (one engine per signer via
:class:`agent.chain.txengine.account.EngineAccount`: its NonceManager, fee estimation,
write-ahead journal and receipt tracking); nothing here signs or broadcasts on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.bridge.abi import ContractAbi
from agent.bridge.errors import rejected
from agent.chain.fees import FeeConfig
from agent.chain.rpc import RpcClient, qty
from agent.chain.txengine.account import EngineAccount
from agent.errors import RpcError, TransactionFailedError
from agent.signing import LocalSigner


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
    """One chain as the bridge code sees it: typed reads, and sends through one TxEngine per
    signing key (journal stream ``tx-<chain>-<sender>`` in ``journal``). The RpcClient is
    the caller's."""

    def __init__(
        self, rpc: RpcClient, name: str, fees: FeeConfig | None = None, *, journal: Any = None
    ) -> None:
        self.rpc = rpc
        self.name = name
        self.fees = fees or FeeConfig()
        self.journal = journal
        self._accounts: dict[str, EngineAccount] = {}

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

    def account(self, signer: LocalSigner) -> EngineAccount:
        """The TxEngine-backed account of ``signer`` on this chain (one engine per key)."""
        acct = self._accounts.get(signer.address)
        if acct is None:
            acct = self._accounts[signer.address] = EngineAccount(
                self.rpc, signer, self.journal, fees=self.fees
            )
        return acct

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
        """Simulate (a revert raises a typed error, nothing is signed), then send through the
        signer's TxEngine and wait for the receipt."""
        acct = self.account(signer)
        try:
            gas = await acct.estimate_gas(to, data)
        except RpcError as e:
            raise self._typed(e, abi, context) from e
        res = await acct.send(to, data, gas=gas, timeout=timeout)
        if not res.ok:
            raise TransactionFailedError(f"{self.name}: {context} reverted on-chain: {res.tx_hash}")
        return Sent(res.tx_hash, res.block, res.gas_used, res.logs)

    async def close(self) -> None:
        """Make the engines' background journal appends durable."""
        for acct in self._accounts.values():
            if acct.engine.started:
                await acct.engine.flush()

    def _typed(self, e: RpcError, abi: ContractAbi, context: str) -> Exception:
        decoded = abi.decode_error(_revert_data(e))
        if decoded is None:
            return e
        return rejected(decoded[0], decoded[1], f"{self.name}: {context}")
