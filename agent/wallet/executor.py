"""Send calls as the Safe through its PolicyModule, signed by the operator key.

Submission goes through :class:`agent.chain.txengine.TxEngine` (one per chain and operator):
write-ahead TxSigned before broadcast, the engine's nonce manager, fee estimation with caps,
replacement of stuck transactions, confirmation depth and reorg tracking. After a crash the
engine re-broadcasts the journaled bytes (same hash) instead of signing a second time.

The optional ``guard`` (the off-chain signing policy) sees the exact calls the Safe will make
before anything is built or signed; a Deny raises :class:`PolicyDeniedError` and nothing is
signed, journaled or sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.fees import FeeConfig
from agent.chain.rpc import RpcClient
from agent.chain.txengine import EngineConfig, TxEngine, TxSpec
from agent.chain.txengine.account import wait_mined
from agent.errors import (
    ModuleCheckError,
    PolicyDeniedError,
    RpcError,
    TransactionFailedError,
    ValidationError,
)
from agent.journal import Store
from agent.model.decisions import Decision
from agent.oms.tx import TxRecord, TxState
from agent.signing.protocol import Signer
from agent.wallet.module import module_calldata
from agent.wallet.multisend import Call
from agent.wallet.reverts import would_revert

_SAFE = "0x" + selector("safe()").hex()  # PolicyModule
_ROLE_OF = "0x" + selector("roleOf(address)").hex()  # PolicyModule
_IS_MODULE_ENABLED = "0x" + selector("isModuleEnabled(address)").hex()  # Safe


def _word(address: str) -> str:
    return "0" * 24 + address.lower().removeprefix("0x")


async def revert_reason(rpc: RpcClient, tx_hash: str, block: int) -> str | None:
    """Why a mined transaction reverted, decoded (agent.wallet.reverts): the same call
    replayed with eth_call on the state before its block (exact unless an earlier
    transaction of that block changed what it read). None when the replay does not revert."""
    tx = await rpc.get_transaction(tx_hash)
    if tx is None:
        return None
    call = {k: tx[k] for k in ("from", "to", "input", "value", "gas") if tx.get(k) is not None}
    try:
        await rpc.call("eth_call", [call, hex(max(block - 1, 0))])
    except RpcError as e:
        decoded = would_revert(e)
        return decoded.message.removesuffix("; nothing was signed") if decoded else None
    return None


async def check_module(rpc: RpcClient, *, module: str, safe: str, operator: str) -> int:
    """Refuse (ModuleCheckError, before anything is signed) a module the operator must not
    sign for: without code, serving another Safe, not enabled by ``safe``, or where
    ``operator`` has no role. One batched read; returns the operator's role."""
    reads = [
        ("eth_getCode", [module, "latest"]),
        ("eth_call", [{"to": module, "data": _SAFE}, "latest"]),
        ("eth_call", [{"to": safe, "data": _IS_MODULE_ENABLED + _word(module)}, "latest"]),
        ("eth_call", [{"to": module, "data": _ROLE_OF + _word(operator)}, "latest"]),
    ]
    code, served, enabled, role = await rpc.batch(reads)

    def word(answer: Any) -> int | None:  # a revert or an empty answer: not a PolicyModule
        if isinstance(answer, BaseException) or not isinstance(answer, str) or len(answer) < 66:
            return None
        return int(answer[2:66], 16)

    if isinstance(code, BaseException):
        raise code
    if code in ("0x", "0x0", ""):
        raise ModuleCheckError(
            f"--module {module} has no code on this chain: pass the PolicyModule address "
            "from `agent wallet deploy` (and check --rpc-url)",
            code="MODULE_NO_CODE",
        )
    got = word(served)
    if got is None or got != int(safe, 16):
        who = "does not answer safe() (not a PolicyModule)" if got is None else (
            f"serves Safe 0x{got:040x}, not --safe {safe}"
        )  # fmt: skip
        raise ModuleCheckError(
            f"--module {module} {who}: pass the module of this Safe", code="MODULE_WRONG_SAFE"
        )
    if not word(enabled):
        raise ModuleCheckError(
            f"--module {module} is not enabled on Safe {safe}: the owners enable it "
            "(Safe.enableModule) or pass the module they enabled",
            code="MODULE_NOT_ENABLED",
        )
    r = word(role)
    if not r:
        raise ModuleCheckError(
            f"the operator {operator} has no role on --module {module}: use the operator key "
            "the owners configured (--key-env) or have them grant it a role",
            code="MODULE_NO_ROLE",
        )
    return r


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
    status: int = 1  # 0 only when the executor was built with raise_on_revert=False

    @property
    def ok(self) -> bool:
        return self.status == 1

    @property
    def block(self) -> int:
        return self.block_number


class ModuleExecutor:
    """``engine`` is built from the other arguments unless given (tests and the composition
    root may share one engine per operator account). The engine is started lazily, on the
    first :meth:`execute` (or by :meth:`start`), because starting it reconciles with the
    chain."""

    def __init__(
        self,
        rpc: RpcClient,
        signer: Signer,
        *,
        module: str,
        multisend: str,
        chain_id: int,
        journal: Store,
        fees: FeeConfig | None = None,
        receipt_timeout: float = 60.0,
        guard: PreSignCheck | None = None,
        engine: TxEngine | None = None,
        confirmations: int = 1,
        safe: str = "",
        raise_on_revert: bool = True,
        cosigner: Any = None,
    ) -> None:
        self.rpc = rpc
        # agent.signing.cosigner.client.CosignerClient: the role requires a co-signature, so
        # every call goes as executeCosigned with the co-signer's signature (None: execute)
        self.cosigner = cosigner
        self.signer = signer
        self.module = module
        self.multisend = multisend  # MultiSendCallOnly: batches go as one delegatecall to it
        self.safe = safe  # the Safe the module acts for (callers that journal per Safe read it)
        # False: a mined revert is returned as Execution(status=0) (the multi-leg executor
        # journals it); True: it raises TransactionFailedError
        self.raise_on_revert = raise_on_revert
        self.chain_id = chain_id
        self.journal = journal
        self.receipt_timeout = receipt_timeout
        self.guard = guard
        self.engine = engine or TxEngine(
            rpc,
            signer,
            journal,
            EngineConfig(chain_id=chain_id, confirmations=confirmations, fees=fees or FeeConfig()),
        )
        self.stream = self.engine.stream
        self._start_lock = asyncio.Lock()

    async def start(self) -> dict[str, int]:
        """Start the engine once (replay its tx stream, check the chain id, reconcile)."""
        async with self._start_lock:
            if self.engine.started:
                return {}
            return await self.engine.start()

    async def check_module(self, safe: str) -> int:
        """:func:`check_module` for this executor's module and operator (the composition
        root calls it before the engine starts: a wrong module is refused unsigned)."""
        return await check_module(
            self.rpc, module=self.module, safe=safe, operator=self.signer.address
        )

    def calldata(self, calls: Sequence[Call]) -> bytes:
        """``PolicyModule.execute`` for one call, or for the MultiSendCallOnly batch."""
        return module_calldata(calls, self.multisend)

    async def estimate_gas(self, data: bytes) -> int:
        est = {"from": self.signer.address, "to": self.module, "data": "0x" + data.hex()}
        try:
            gas = int(await self.rpc.call("eth_estimateGas", [est]), 16)
        except RpcError as e:  # the module refuses: say why, by name (PolicyViolation(...))
            decoded = would_revert(e)
            if decoded is None:
                raise
            raise decoded from e
        return gas + gas // 5  # headroom: state may move between estimate and inclusion

    async def execute(
        self,
        calls: Sequence[Call],
        *,
        client_order_id: str | None = None,
        on_sent: Callable[[str], Awaitable[None]] | None = None,
        gas: int | None = None,
    ) -> Execution:
        """``gas``: send with this limit, without estimating (a call that would revert is
        then sent and mined as a revert)."""
        if not calls:
            raise ValidationError("calls", "is empty", "give at least one call")
        if self.guard is not None:
            decision = await self.guard.check(calls)
            if not decision.allowed:
                raise PolicyDeniedError(
                    getattr(decision, "code", "POLICY_DENIED"), decision.reason, decision.rule
                )
        if not self.engine.started:
            await self.start()
        data = await self._module_data(calls, client_order_id)
        if gas is None:  # a call the module refuses reverts here: nothing is signed
            gas = await self.estimate_gas(data)
        res = await self.engine.send(
            TxSpec(to=self.module, data=data, gas=gas, client_order_id=client_order_id)
        )
        if res.record.state is TxState.DROPPED:
            raise res.error or TransactionFailedError(f"the node refused {res.tx_hash}")
        # SENT, or SIGNED with an unknown fate (journaled: the engine's poll settles it)
        if on_sent is not None:
            await on_sent(res.tx_hash)
        return await self.wait(res.tx_hash)

    async def _module_data(self, calls: Sequence[Call], client_order_id: str | None) -> bytes:
        """``execute`` calldata, or, with a co-signer, ``executeCosigned`` with its signature
        over exactly this call (a refusal raises PolicyDeniedError with the co-signer's code:
        nothing is signed by the operator, nothing is sent)."""
        if self.cosigner is None:
            return self.calldata(calls)
        from agent.signing.cosigner.wire import execute_cosigned_calldata, module_call
        from agent.signing.errors import SignerRefusedError

        mc = module_call(calls, self.multisend)
        ctx = {"client_order_id": client_order_id} if client_order_id else {}
        try:
            cs = await self.cosigner.cosign(
                module=self.module, chain_id=self.chain_id, operator=self.signer.address,
                call=mc, context=ctx,
            )  # fmt: skip
        except SignerRefusedError as e:
            raise PolicyDeniedError(e.code, str(e), "cosigner") from e
        return execute_cosigned_calldata(mc, cs.nonce, cs.deadline, cs.signature)

    async def wait(self, tx_hash: str, timeout: float | None = None) -> Execution:
        """Poll the engine until ``tx_hash`` (or a replacement for its nonce) is mined; the
        receipt's logs come with the result."""
        rec = await self._wait_mined(tx_hash, self.receipt_timeout if timeout is None else timeout)
        receipt = await self.rpc.get_transaction_receipt(rec.tx_hash)
        if receipt is None:  # reorged out between the poll and this read: wait again
            return await self.wait(rec.tx_hash, timeout)
        if not rec.success and self.raise_on_revert:
            why = await revert_reason(self.rpc, rec.tx_hash, int(receipt["blockNumber"], 16))
            raise TransactionFailedError(
                f"module transaction {rec.tx_hash} reverted" + (f": {why}" if why else "")
            )
        return Execution(
            rec.tx_hash,
            int(receipt["blockNumber"], 16),
            int(receipt["gasUsed"], 16),
            int(receipt.get("effectiveGasPrice", "0x0"), 16),
            tuple(receipt["logs"]),
            1 if rec.success else 0,
        )

    async def _wait_mined(self, tx_hash: str, timeout: float) -> TxRecord:
        return await wait_mined(self.engine, tx_hash, timeout)  # the one receipt wait

    async def close(self) -> None:
        """Make the engine's background journal appends durable."""
        if self.cosigner is not None:
            await self.cosigner.close()
        if self.engine.started:
            await self.engine.flush()


def module_executor_for(
    chain: Any,
    *,
    safe: str,
    module: str,
    multisend: str,
    journal: Store,
    raise_on_revert: bool = False,
    guard: PreSignCheck | None = None,
) -> ModuleExecutor:
    """The module executor over a client that has ``rpc``, ``signer`` and ``chain_id`` (an
    agent.chain.txengine.account.EngineAccount): its reads stay on that client, its module
    calls go here, through the client's own TxEngine when it has one (one engine per key)."""
    return ModuleExecutor(
        chain.rpc, chain.signer, module=module, multisend=multisend, chain_id=chain.chain_id,
        journal=journal, safe=safe, raise_on_revert=raise_on_revert, guard=guard,
        engine=getattr(chain, "engine", None),
    )  # fmt: skip
