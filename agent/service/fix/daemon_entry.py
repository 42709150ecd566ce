"""The daemon as the FIX gateway's :class:`OrderEntry`: orders go through the same swap
pipeline as ``POST /v1/orders`` (validation, the trading-state gate, routing, the OMS with its
risk checks, the policy, the signer, the chain), under the same per-chain lock.

A NewOrderSingle is answered as soon as the OMS has decided (``OrderAccepted`` or
``OrderDenied`` journaled), not when the swap is mined: the pipeline keeps running in a task
and its fill (``OrderFilled`` with the realised price) reaches the client through the
journal, like every other state change. What the pipeline refuses before an order exists
(trading halted, an unknown token, a duplicate ClOrdID) raises :class:`OrderRefused`, which
the application answers with ExecutionReport(Rejected) naming the code.

Only what the pipeline executes is accepted: market orders (a limit price cannot be kept by
a swap; ``MaxSlippageBps(20002)`` bounds the price instead), the ``market`` algorithm, and
symbols ``BASE/QUOTE`` of the chain's manifest. An order the pipeline is executing cannot be
cancelled or replaced (its transaction may be signed at any moment): TOO_LATE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from agent.errors import AgentError
from agent.execution.swap import validate_intent
from agent.model import OrderType, SwapIntent
from agent.oms import CancelOrder
from agent.oms.order import OrderState
from agent.service.fix.orderentry import (
    REPLACED_BY,
    NewOrder,
    OmsOrderEntry,
    OrderEntryError,
    OrderRefused,
    oms_id,
)

log = logging.getLogger("agent.fix")
ACK_TIMEOUT_S = 60.0  # the pipeline quotes over RPC before the OMS decides; a dead RPC ends it
_ACK_POLL_S = 0.0005
_ALGOS = frozenset({"", "market"})


class DaemonOrderEntry(OmsOrderEntry):
    def __init__(self, daemon: Any, chain: str | None = None) -> None:
        self.daemon = daemon
        self.rt = daemon.chains[chain] if chain else daemon.primary
        super().__init__(self.rt.app.manager)
        self._running: dict[str, asyncio.Task[Any]] = {}  # OMS id -> its pipeline run

    # --- requests ---------------------------------------------------------------------------
    def _intent(self, owner: str, o: NewOrder) -> SwapIntent:
        if o.order_type is not OrderType.MARKET:
            raise OrderRefused(
                "OrdType(40)=2: the daemon's swap pipeline executes market orders; bound the "
                "price with MaxSlippageBps(20002)",
                "UNSUPPORTED_ORDER_TYPE",
            )
        if o.strategy not in _ALGOS:
            raise OrderRefused(
                f"TargetStrategy {o.strategy!r} is not run by the daemon: use market",
                "UNSUPPORTED_ALGO",
            )
        base, slash, quote = o.symbol.partition("/")
        if not slash or not base or not quote:
            raise OrderRefused(f"Symbol(55) {o.symbol!r} is not BASE/QUOTE", "UNKNOWN_SYMBOL")
        bps = o.max_slippage_bps
        try:
            intent = SwapIntent(
                oms_id(owner, o.cl_ord_id), o.side, base.upper(), quote.upper(), o.quantity,
                self.daemon.config.algos.slippage_bps if bps is None else bps,
            )  # fmt: skip
            validate_intent(self.rt.app.pipeline.manifest, intent)
        except AgentError as e:
            raise OrderRefused(str(e), getattr(e, "code", "INVALID_ORDER")) from None
        return intent

    async def submit(self, owner: str, order: NewOrder) -> None:
        if self.daemon.draining:
            raise OrderRefused("the agent is shutting down; send it again later", "DRAINING")
        intent = self._intent(owner, order)
        cid = intent.client_id
        self.manager.sync()
        if cid in self._running or self.manager.store.get(cid) is not None:
            raise OrderRefused(f"ClOrdID {order.cl_ord_id!r} is already used", "DUPLICATE")
        task = asyncio.create_task(self._run(intent), name=f"fix-{cid}")
        self._running[cid] = task
        task.add_done_callback(lambda _t: self._running.pop(cid, None))
        store = self.manager.store
        async with asyncio.timeout(ACK_TIMEOUT_S):
            # the OMS's decision is in memory the moment it is journaled; the pipeline has
            # no hook for it, so look between its awaits (its RPC round trips take longer)
            while not task.done():
                o = store.get(cid)
                if o is not None and o.state is not OrderState.INITIALIZED:
                    break
                await asyncio.sleep(_ACK_POLL_S)
        if task.done() and store.get(cid) is None:
            report = task.result() if task.exception() is None else None
            if report is None:
                e = task.exception()
                raise OrderRefused(f"{getattr(e, 'code', 'ERROR')}: {e}", "ERROR")
            if report.status == "duplicate":
                raise OrderRefused(f"ClOrdID {order.cl_ord_id!r} is already used", "DUPLICATE")
            raise OrderRefused(report.reason or report.status, report.code or "REFUSED")
        self.pump()

    async def _run(self, intent: SwapIntent) -> Any:
        try:
            async with self.rt.lock:
                return await self.rt.app.pipeline.run(intent)
        except Exception as e:  # the pipeline journaled what it means for the order
            log.warning("fix: order %s: %s", intent.client_id, e)
            raise
        finally:
            self.daemon._kick.set()  # the follower streams the events (WebSocket, metrics)
            if self.daemon.fix is not None:  # the fill's report goes out now
                self.daemon.fix.notify()

    def _not_running(self, cid: str, cl: str) -> None:
        if cid in self._running:
            raise OrderEntryError(
                f"order {cl!r} is being executed on chain: its transaction may be signed "
                "at any moment",
                "TOO_LATE",
            )

    async def cancel(self, owner: str, cl_ord_id: str, reason: str = "") -> None:
        self._not_running(oms_id(owner, cl_ord_id), cl_ord_id)
        await super().cancel(owner, cl_ord_id, reason)

    async def replace(self, owner: str, orig_cl_ord_id: str, order: NewOrder) -> None:
        """Cancel-and-new through the pipeline; only an order that is open, unfilled and not
        being executed can be replaced (see the module docstring)."""
        old = oms_id(owner, orig_cl_ord_id)
        self._not_running(old, orig_cl_ord_id)
        o = self.manager.store.get(old)
        if o is None:
            raise OrderEntryError(f"unknown order {orig_cl_ord_id!r}", "UNKNOWN_ORDER")
        if o.state.terminal or o.state is OrderState.PENDING_CANCEL or o.filled:
            raise OrderEntryError(
                f"order {orig_cl_ord_id!r} is already {o.state.value}", "TOO_LATE"
            )
        intent = self._intent(owner, order)  # checked before anything is cancelled
        if self.manager.store.get(intent.client_id) is not None:
            raise OrderEntryError(f"ClOrdID {order.cl_ord_id!r} is already used", "DUPLICATE")
        await self.manager.cancel_async(CancelOrder(old, REPLACED_BY + intent.client_id))
        after = self.manager.store.get(old)
        if after is None or after.state is not OrderState.CANCELLED:  # at a venue: too late
            self.pump()
            raise OrderEntryError(f"order {orig_cl_ord_id!r} is working at a venue", "TOO_LATE")
        await self.submit(owner, order)

    async def drain(self) -> None:
        """Wait for the pipeline runs the gateway started (the daemon's SIGTERM drain)."""
        for t in list(self._running.values()):
            with contextlib.suppress(BaseException):
                await t
