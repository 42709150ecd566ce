"""Execute calls as the Safe with the owners' signatures (Safe.execTransaction), as ONE
transaction, all or nothing. Module calls (operator key) go through the one module executor,
agent.wallet.executor.ModuleExecutor (``module_executor_for(chain, ...)``).

A batch goes through Safe's MultiSendCallOnly (encoded by agent.wallet.multisend); the
SafeTx hash and owner signatures come from agent.wallet.safe_tx. Nothing here re-implements
them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.txengine.account import EngineAccount, TxResult
from agent.errors import ValidationError
from agent.wallet.multisend import Call, multisend_calldata
from agent.wallet.safe_tx import (
    Operation,
    SafeTx,
    exec_transaction_calldata,
    pack_signatures,
    sign_safe_tx,
)


class SafeExecutor(Protocol):
    """OwnersExecutor, or agent.wallet.executor.ModuleExecutor (whose result, an Execution,
    has the same ``ok``/``tx_hash``/``gas_used``/``block``)."""

    safe: str

    async def execute(
        self,
        calls: Sequence[Call],
        *,
        gas: int | None = None,
        client_order_id: str | None = None,
        on_sent: Callable[[str], Awaitable[None]] | None = None,
    ) -> Any: ...


class OwnersExecutor:
    """k owners sign the SafeTx; the chain client's key (any EOA) submits execTransaction."""

    def __init__(
        self, chain: EngineAccount, safe: str, multisend: str, owner_keys: Sequence[str]
    ) -> None:
        self.chain = chain
        self.safe = safe
        self.multisend = multisend
        self.owner_keys = tuple(owner_keys)

    async def nonce(self) -> int:
        raw = await self.chain.call(self.safe, selector("nonce()"))
        return int(decode(["uint256"], raw)[0])

    async def execute(
        self,
        calls: Sequence[Call],
        *,
        gas: int | None = None,
        client_order_id: str | None = None,
        on_sent: Callable[[str], Awaitable[None]] | None = None,
    ) -> TxResult:
        if not calls:
            raise ValidationError("calls", "is empty", "give at least one call")
        if len(calls) == 1:
            to, value, data, op = calls[0].to, calls[0].value, calls[0].data, Operation.CALL
        else:
            to, value, data, op = (
                self.multisend,
                0,
                multisend_calldata(list(calls)),
                Operation.DELEGATECALL,
            )
        tx = SafeTx(self.safe, self.chain.chain_id, to, value, data, op, await self.nonce())
        sigs = dict(sign_safe_tx(tx, k) for k in self.owner_keys)
        return await self.chain.send(
            self.safe, exec_transaction_calldata(tx, pack_signatures(sigs)), gas=gas,
            client_order_id=client_order_id, on_sent=on_sent,
        )  # fmt: skip
