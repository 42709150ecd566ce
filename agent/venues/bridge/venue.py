"""The bridge as a venue: quote (fee + time), submit a deposit through the Safe's module,
track it to the mint on L2, and reconcile from the chains (VenueReports).

The "instrument" of a bridge hop is ``Spot(SYMBOL, SYMBOL)``: the same asset on both sides;
``size`` is the gross amount that leaves the L1 Safe. The L2 side receives the bridged
representation (manifest name ``Bridged<SYMBOL>``) at the configured recipient (the L2 Safe).

Reconciliation reads the chains, not memory: ``open_orders`` are the Safe's deposits whose id
the L2 bridge has not processed; ``fills_since`` are ``DepositFinalized`` logs to our
recipient, each joined with its L1 ``DepositInitiated`` for the gross amount and fee.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from eth_utils import to_checksum_address

from agent.bridge.abi import escrow_abi, l2_abi, token_abi
from agent.bridge.deploy import ESCROW_NAME, L2_BRIDGE_NAME, bridged_name
from agent.bridge.errors import BridgeError, BridgeTimeoutError
from agent.bridge.events import (
    BridgeTransferCompleted,
    BridgeTransferInitiated,
    BridgeTransferRejected,
)
from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest, TokenInfo
from agent.errors import ChainError, PolicyDeniedError, ValidationError
from agent.journal.base import ANY, Store
from agent.model import (
    Fill,
    Instrument,
    OrderType,
    Quote,
    Side,
    Spot,
    TimeInForce,
    VenueKind,
    from_base_units,
    to_base_units,
)
from agent.oms.manager import OrderManager
from agent.venues.base import (
    Capabilities,
    ChildOrder,
    FillReport,
    OrderStatusReport,
    VenueEvent,
    VenueEventKind,
    VenueOrderRef,
    VenueOrderState,
)
from agent.venues.bridge.cost import BridgeCostModel, BridgeDirection, BridgeEstimate
from agent.venues.bridge.orders import BridgeOrders
from agent.venues.bridge.withdraw import WithdrawalsMixin
from agent.venues.uniswap_common import approve
from agent.wallet.multisend import Call

BRIDGE_CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.MARKET}),
    time_in_force=frozenset({TimeInForce.GTC}),  # accepted at once, completes later
    cancel=False,  # a locked deposit cannot be called back
    streaming=True,
    reports=True,
    atomic_batch=False,
    on_chain=True,
)
STREAM = "bridge.venue"


@dataclass(frozen=True, slots=True)
class BridgeTransfer:
    """One deposit, as the venue tracks it."""

    client_order_id: str
    message_id: str
    symbol: str
    amount_in: int
    fee: int
    amount_out: int
    source_tx: str
    state: VenueOrderState
    submitted_at: float  # time.monotonic()
    dest_tx: str | None = None
    completed_at: float | None = None
    direction: BridgeDirection = BridgeDirection.DEPOSIT
    release_at: int | None = None  # withdrawals: L1 time the challenge period ends

    @property
    def elapsed(self) -> float | None:
        return None if self.completed_at is None else self.completed_at - self.submitted_at


class BridgeVenue(WithdrawalsMixin):
    kind = VenueKind.BRIDGE
    capabilities = BRIDGE_CAPABILITIES

    def __init__(
        self,
        *,
        l1_rpc: RpcClient,
        l2_rpc: RpcClient,
        l1: Manifest,
        l2: Manifest,
        executor: Any,  # agent.wallet.executor.ModuleExecutor (L1 Safe's module)
        safe: str,
        recipient: str,
        journal: Store | None = None,
        confirmations: int = 1,
        poll_interval: float = 0.02,
        from_block: int = 0,
        venue_id: str | None = None,
        l1_block_time: Decimal = Decimal("12"),
        l2_block_time: Decimal = Decimal("2"),
        relayer_poll: Decimal = Decimal("0.05"),
        l2_executor: Any = None,  # the L2 Safe's module executor: enables withdrawals
        l2_safe: str | None = None,
        l1_recipient: str | None = None,  # where withdrawals are released (the L1 Safe)
        l2_confirmations: int = 1,
        finalize_withdrawals: bool = False,
        l1_from_block: int | None = None,
        l2_from_block: int | None = None,
        oms: OrderManager | None = None,  # default: one over ``journal``
    ) -> None:
        self.l1_rpc, self.l2_rpc = l1_rpc, l2_rpc
        self.l1, self.l2 = l1, l2
        self.executor = executor
        self.safe = to_checksum_address(safe)
        self.recipient = to_checksum_address(recipient)
        self.journal = journal
        self.escrow = l1.address(ESCROW_NAME)
        self.bridge = l2.address(L2_BRIDGE_NAME)
        self.poll_interval = poll_interval
        self.from_block = from_block
        self.id = venue_id or f"bridge@{l1.name}->{l2.name}"
        # fee_bps and the challenge period are read from the escrow in connect()
        self.cost = BridgeCostModel(
            fee_bps=0,
            confirmations=confirmations,
            source_block_time=l1_block_time,
            dest_block_time=l2_block_time,
            relayer_poll=relayer_poll,
        )
        self._confirmations = confirmations
        self.l2_executor = l2_executor
        self.l2_safe = to_checksum_address(l2_safe or recipient)
        self.l1_recipient = to_checksum_address(l1_recipient or safe)
        self.finalize_withdrawals = finalize_withdrawals
        self.l1_from_block = from_block if l1_from_block is None else l1_from_block
        self.l2_from_block = from_block if l2_from_block is None else l2_from_block
        self.withdraw_cost = BridgeCostModel(
            fee_bps=0,
            confirmations=l2_confirmations,
            source_block_time=l2_block_time,
            dest_block_time=l1_block_time,
            relayer_poll=relayer_poll,
        )
        self._escrow, self._bridge, self._token = escrow_abi(), l2_abi(), token_abi()
        self._transfers: dict[str, BridgeTransfer] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._proven: dict[str, asyncio.Event] = {}  # withdrawals proven on L1
        self._events: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        if oms is None and journal is not None:
            oms = OrderManager.open(journal)
        self.orders = BridgeOrders(oms, self.id) if oms is not None else None

    async def connect(self) -> BridgeVenue:
        """Read the live fee and challenge period so quotes match what the contract charges."""
        fee_bps, challenge = await asyncio.gather(
            self.call_view(self.escrow, "feeBps"), self.call_view(self.escrow, "challengePeriod")
        )
        self.cost = replace(self.cost, fee_bps=int(fee_bps), challenge_period=int(challenge))
        await self._connect_withdrawals()
        return self

    # --- routing ---------------------------------------------------------------------------
    def route(self, symbol: str) -> tuple[TokenInfo, str]:
        """(L1 token, L2 bridged token) for ``symbol``; ValidationError if not bridged."""
        t = self.l1.token(symbol)
        try:
            return t, self.l2.address(bridged_name(t.symbol))
        except ValidationError:
            raise ValidationError(
                "instrument", f"{t.symbol} is not bridged to {self.l2.name}",
                "register it on the L2 bridge (deploy_bridge tokens=...)",
            ) from None  # fmt: skip

    def _resolve(self, instrument: Instrument, size: Decimal) -> tuple[TokenInfo, int]:
        if not isinstance(instrument, Spot) or instrument.base.upper() != instrument.quote.upper():
            raise ValidationError(
                "instrument", f"{instrument!r} is not a bridge hop", "use Spot('USDC', 'USDC')"
            )
        t, _ = self.route(instrument.base)
        return t, _to_base(t, size)

    def estimate(self, symbol: str, size: Decimal) -> BridgeEstimate:
        """Expected fee, output and time for routing (no I/O)."""
        t, _ = self.route(symbol)
        return self.cost.estimate(_to_base(t, size))

    async def quote(self, instrument: Instrument, side: Side, size: Decimal) -> Quote:
        """SELL: L1 -> L2 deposit; BUY: L2 -> L1 withdrawal (fee of the L2 bridge, and the
        challenge period in ``eta_seconds``)."""
        t, amount = self._resolve(instrument, size)
        src, dst = (
            (self.l1.name, self.l2.name) if side is Side.SELL else (self.l2.name, self.l1.name)
        )
        if side is Side.SELL:
            est = self.cost.estimate(amount)
        else:
            est = self.withdraw_cost.estimate(amount, BridgeDirection.WITHDRAWAL)
        block = await self.l1_rpc.block_number()
        return Quote(
            venue=self.id, side=side,
            asset_in=f"{t.symbol}@{src}", asset_out=f"{t.symbol}@{dst}",
            amount_in=est.amount_in, amount_out=est.amount_out, fee_bps=est.fee_bps,
            gas_units=est.gas_units, block=block, route=(self.escrow, self.bridge),
            extra=(("eta_seconds", str(est.eta_seconds)), ("fee", str(est.fee))),
        )  # fmt: skip

    # --- submit and track ------------------------------------------------------------------
    async def submit(self, child: ChildOrder) -> VenueOrderRef:
        if child.client_order_id in self._transfers:
            tr = self._transfers[child.client_order_id]
            return VenueOrderRef(self.id, child.client_order_id, tr.source_tx)
        if self.orders is not None:
            inst = child.instrument
            await self.orders.open(child, getattr(inst, "base", str(inst)))
        if child.side is Side.BUY:
            return await self._submit_withdrawal(child)
        try:
            t, amount, est = await self._check(child)
        except ValidationError as e:  # refused before anything is signed: journal the attempt
            await self._journal(BridgeTransferRejected(child.client_order_id, e.code, str(e)))
            raise
        calls = [
            approve(t.address, self.escrow, amount),
            Call(self.escrow, self._escrow.encode("deposit", t.address, self.recipient, amount)),
        ]
        submitted = time.monotonic()
        ex = await self._execute(self.executor, calls, child.client_order_id)
        message_id, fee, net = self._deposit_from_logs(ex.logs)
        if net != est.amount_out or fee != est.fee:  # the contract is the truth; say so loudly
            raise BridgeError(
                f"deposit {message_id}: contract charged fee {fee} (net {net}), "
                f"quoted {est.fee} (net {est.amount_out}); refresh the venue (connect())"
            )
        tr = BridgeTransfer(
            child.client_order_id, message_id, t.symbol, amount, fee, net, ex.tx_hash,
            VenueOrderState.OPEN, submitted,
        )  # fmt: skip
        self._transfers[child.client_order_id] = tr
        self._done[child.client_order_id] = asyncio.Event()
        ref = VenueOrderRef(self.id, child.client_order_id, ex.tx_hash)
        await self._journal(
            BridgeTransferInitiated(
                child.client_order_id, message_id, ex.tx_hash, t.address, amount, net, fee
            )
        )
        self._events.put_nowait(VenueEvent(VenueEventKind.ACK, ref))
        task = asyncio.get_running_loop().create_task(self._track(child.client_order_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return ref

    async def _execute(self, executor: Any, calls: list[Call], coid: str) -> Any:
        """The Safe's module call; a refusal by the executor's signing-policy guard (before
        anything is signed) is journaled like any other refusal, then raised."""

        async def sent(tx_hash: str) -> None:
            if self.orders is not None:
                await self.orders.sent(coid, tx_hash)

        try:
            return await executor.execute(calls, client_order_id=coid, on_sent=sent)
        except PolicyDeniedError as e:
            await self._journal(BridgeTransferRejected(coid, e.code, str(e)))
            raise

    async def _check(self, child: ChildOrder) -> tuple[TokenInfo, int, BridgeEstimate]:
        t, amount = self._resolve(child.instrument, child.size)
        est = self.cost.estimate(amount)
        balance = int(await self.call_view(t.address, "balanceOf", self.safe, abi=self._token))
        if balance < amount:
            raise ValidationError(
                "size", f"the Safe holds {t.symbol} {_show(t, balance)}, {_show(t, amount)} asked",
                "fund the Safe or bridge less",
            )  # fmt: skip
        return t, amount, est

    def _deposit_from_logs(self, logs: Sequence[dict[str, Any]]) -> tuple[str, int, int]:
        for log in logs:
            if to_checksum_address(log["address"]) != self.escrow:
                continue
            ev = self._escrow.decode_log(log)
            if ev is not None and ev.event == "DepositInitiated":
                return "0x" + ev.args["id"].hex(), int(ev.args["fee"]), int(ev.args["amount"])
        raise BridgeError("the Safe's transaction emitted no DepositInitiated: nothing was bridged")

    async def _track(self, client_order_id: str) -> None:
        tr = self._transfers[client_order_id]
        topics = [self._bridge.topic("DepositFinalized"), tr.message_id]
        start = await self.l2_rpc.block_number()
        start = max(0, start - 64)  # the relayer may have been faster than this task
        while True:
            try:
                head = await self.l2_rpc.block_number()
                if head >= start:
                    logs = await self.l2_rpc.call(
                        "eth_getLogs",
                        [{
                            "address": self.bridge, "topics": topics,
                            "fromBlock": hex(start), "toBlock": hex(head),
                        }],
                    )  # fmt: skip
                    if logs:
                        break
                    start = head + 1
            except ChainError:
                pass  # a node hiccup: keep tracking; wait() bounds the time
            await asyncio.sleep(self.poll_interval)  # polling L2 logs for the mint
        done = replace(
            tr, state=VenueOrderState.FILLED, dest_tx=logs[0]["transactionHash"],
            completed_at=time.monotonic(),
        )  # fmt: skip
        self._transfers[client_order_id] = done
        self.cost = self.cost.observe(Decimal(str(round(done.elapsed or 0, 6))))
        ref = VenueOrderRef(self.id, client_order_id, tr.source_tx)
        self._events.put_nowait(VenueEvent(VenueEventKind.FILL, ref, fill=self._fill(done)))
        await self._journal(
            BridgeTransferCompleted(
                client_order_id, tr.message_id, done.dest_tx or "", done.amount_out,
                int((done.elapsed or 0) * 1000),
            )
        )  # fmt: skip
        self._done[client_order_id].set()

    async def wait(self, ref: VenueOrderRef | str, timeout: float = 60.0) -> BridgeTransfer:
        """Until the transfer completes (deposit minted on L2 / withdrawal released on L1);
        BridgeTimeoutError after ``timeout`` seconds."""
        coid = ref if isinstance(ref, str) else ref.client_order_id
        if coid not in self._done:
            raise ValidationError("ref", f"unknown client order id {coid!r}", "submit it first")
        try:
            await asyncio.wait_for(self._done[coid].wait(), timeout)
        except TimeoutError:
            tr = self._transfers[coid]
            where = f"minted on {self.l2.name}"
            if tr.direction is BridgeDirection.WITHDRAWAL:
                where = f"released on {self.l1.name} (release at {tr.release_at})"
            raise BridgeTimeoutError(
                f"{tr.direction} {tr.message_id} (tx {tr.source_tx}) not {where} after "
                f"{timeout}s; are the relayers running?"
            ) from None
        return self._transfers[coid]

    def transfer(self, client_order_id: str) -> BridgeTransfer | None:
        return self._transfers.get(client_order_id)

    async def events(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._events.get()

    # --- reconciliation (VenueReports), from the chains ------------------------------------
    async def open_orders(self) -> Sequence[OrderStatusReport]:
        head = await self.l1_rpc.block_number()
        logs = await self.l1_rpc.call(
            "eth_getLogs",
            [{
                "address": self.escrow,
                "topics": [self._escrow.topic("DepositInitiated"), None, None, _topic(self.safe)],
                "fromBlock": hex(self.from_block), "toBlock": hex(head),
            }],
        )  # fmt: skip
        decoded = [self._escrow.decode_log(log) for log in logs]
        done = await self.l2_rpc.batch(
            [
                (
                    "eth_call",
                    [
                        {
                            "to": self.bridge,
                            "data": "0x" + self._bridge.encode("processed", ev.args["id"]).hex(),
                        },
                        "latest",
                    ],
                )
                for ev in decoded
                if ev is not None
            ]
        )
        out = []
        for ev, raw in zip([e for e in decoded if e is not None], done, strict=True):
            if isinstance(raw, Exception) or self._bridge.decode_output("processed", raw):
                continue
            out.append(self._report(ev.args, ev.tx_hash, VenueOrderState.OPEN))
        return out + await self.open_withdrawals()

    async def order_status(self, ref: VenueOrderRef) -> OrderStatusReport | None:
        tr = self._transfers.get(ref.client_order_id)
        if tr is None:
            return None
        t = self.l1.token(tr.symbol)
        size = _from_base(t, tr.amount_in)
        filled = size if tr.state is VenueOrderState.FILLED else Decimal(0)
        return OrderStatusReport(
            VenueOrderRef(self.id, tr.client_order_id, tr.source_tx),
            Spot(tr.symbol, tr.symbol),
            Side.SELL if tr.direction is BridgeDirection.DEPOSIT else Side.BUY, size, filled, tr.state,
        )  # fmt: skip

    async def fills_since(self, cursor: str | None) -> FillReport:
        """Deposits' mints on L2 and, with withdrawals enabled, releases on L1; the cursor is
        ``"<next L2 block>,<next L1 block>"`` (a bare L2 block is accepted)."""
        l2_part, _, l1_part = (cursor or "").partition(",")
        rep = await self._deposit_fills_since(l2_part or None)
        if self.l2_executor is None:
            return rep
        wd, nxt = await self.withdrawal_fills_since(int(l1_part) if l1_part else self.l1_from_block)
        return FillReport(rep.fills + tuple(wd), f"{rep.cursor},{nxt}")

    async def _deposit_fills_since(self, cursor: str | None) -> FillReport:
        """Mints on L2 to our recipient from L2 block ``cursor`` on; the returned cursor is the
        next block to read. ``Fill.order_id`` is the L1 deposit tx (the ref's venue_order_id),
        ``trade_id`` the L2 mint tx."""
        start = int(cursor) if cursor else self.from_block
        head = await self.l2_rpc.block_number()
        if head < start:
            return FillReport((), str(start))
        logs = await self.l2_rpc.call(
            "eth_getLogs",
            [{
                "address": self.bridge,
                "topics": [self._bridge.topic("DepositFinalized"), None, None, _topic(self.recipient)],
                "fromBlock": hex(start), "toBlock": hex(head),
            }],
        )  # fmt: skip
        fills = []
        for log in logs:
            ev = self._bridge.decode_log(log)
            if ev is None:
                continue
            mid = "0x" + ev.args["id"].hex()
            src = await self.l1_rpc.call(
                "eth_getLogs",
                [{
                    "address": self.escrow, "topics": [self._escrow.topic("DepositInitiated"), mid],
                    "fromBlock": hex(self.from_block), "toBlock": "latest",
                }],
            )  # fmt: skip
            fee, source_tx = 0, mid
            if src:
                sev = self._escrow.decode_log(src[0])
                fee = int(sev.args["fee"]) if sev else 0
                source_tx = src[0]["transactionHash"]
            sym = self._symbol_of_l2(ev.args["l2Token"])
            amount = int(ev.args["amount"])
            fills.append(
                Fill(
                    venue=self.id, order_id=source_tx, trade_id=ev.tx_hash,
                    asset_in=f"{sym}@{self.l1.name}", asset_out=f"{sym}@{self.l2.name}",
                    amount_in=amount + fee, amount_out=amount, fee=fee, fee_asset=sym,
                )
            )  # fmt: skip
        return FillReport(tuple(fills), str(head + 1))

    # --- helpers ---------------------------------------------------------------------------
    def _fill(self, tr: BridgeTransfer) -> Fill:
        src, dst = self.l1.name, self.l2.name
        if tr.direction is BridgeDirection.WITHDRAWAL:
            src, dst = dst, src
        return Fill(
            venue=self.id, order_id=tr.source_tx, trade_id=tr.dest_tx or "",
            asset_in=f"{tr.symbol}@{src}", asset_out=f"{tr.symbol}@{dst}",
            amount_in=tr.amount_in, amount_out=tr.amount_out, fee=tr.fee, fee_asset=tr.symbol,
        )  # fmt: skip

    def _report(self, args: dict[str, Any], tx: str, state: VenueOrderState) -> OrderStatusReport:
        mid = "0x" + args["id"].hex()
        coid = next((c for c, t in self._transfers.items() if t.message_id == mid), mid)
        t = next(
            (t for t in self.l1.tokens.values() if to_checksum_address(t.address) == args["token"]),
            None,
        )
        sym = t.symbol if t else args["token"]
        gross = int(args["amount"]) + int(args["fee"])
        size = _from_base(t, gross) if t else Decimal(gross)
        return OrderStatusReport(
            VenueOrderRef(self.id, coid, tx), Spot(sym, sym), Side.SELL, size, Decimal(0), state
        )

    def _symbol_of_l2(self, l2_token: str) -> str:
        for name, addr in self.l2.contracts.items():
            if name.startswith("Bridged") and to_checksum_address(addr) == l2_token:
                return name.removeprefix("Bridged")
        return l2_token

    async def call_view(self, to: str, fn: str, *args: Any, abi: Any = None) -> Any:
        """Read a view function on L1 (the escrow's ABI unless ``abi`` is given)."""
        abi = abi or self._escrow
        rpc = self.l1_rpc
        raw = await rpc.call(
            "eth_call", [{"to": to, "data": "0x" + abi.encode(fn, *args).hex()}, "latest"]
        )
        return abi.decode_output(fn, raw)

    async def _journal(self, event: Any) -> None:
        if self.journal is not None:
            await self.journal.append_async(STREAM, ANY, [event])
        if self.orders is not None:  # the same outcome on the order's state machine
            tr = self._transfers.get(getattr(event, "client_order_id", ""))
            amounts = None
            if tr is not None:
                dec = self.l1.token(tr.symbol).decimals
                amounts = (tr.amount_in, tr.amount_out, tr.fee, dec)
            await self.orders.on_event(event, amounts)

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):  # closing: moot
                await t


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


def _to_base(t: TokenInfo, size: Decimal) -> int:
    amount = to_base_units(size, t.decimals, field="size")
    if amount <= 0:
        raise ValidationError("size", f"{size} is not positive", "give a size > 0")
    return amount


def _from_base(t: TokenInfo, units: int) -> Decimal:
    return from_base_units(units, t.decimals)


def _show(t: TokenInfo, units: int) -> str:
    return f"{_from_base(t, units):f}"
