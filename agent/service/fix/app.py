"""FIX 4.4 application messages <-> the OrderEntry protocol.

NewOrderSingle(D) -> ``submit``; OrderCancelRequest(F) -> ``cancel``;
OrderCancelReplaceRequest(G) -> ``replace``; OrderStatusRequest(H) -> ``status``. Every
order update becomes an ExecutionReport(8) with the agent's OrderID(37) and a unique
ExecID(17). A refused cancel or replace is an OrderCancelReject(9).

Tags read from NewOrderSingle: ClOrdID 11, Symbol 55 (``WETH/USDC``), Side 54 (1 buy, 2 sell),
TransactTime 60, OrdType 40 (1 market, 2 limit), OrderQty 38, Price 44 (limit orders),
TimeInForce 59 (1 GTC, 3 IOC, 4 FOK; default IOC), TargetStrategy 847 (the execution
algorithm by name, e.g. ``TWAP``; the custom tag 20001 takes precedence, as FIX 4.4's
847 enumerates only numbers), 20002 MaxSlippageBps (custom).
"""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

import simplefix

from agent.errors import AgentError, JournalError, ValidationError
from agent.model import OrderType, Side, TimeInForce
from agent.service.fix.orderentry import (
    ExecType,
    NewOrder,
    OrderEntry,
    OrderEntryError,
    OrderRefused,
    OrderUpdate,
)
from agent.service.fix.session import (
    REQUIRED_TAG_MISSING,
    VALUE_INCORRECT,
    Connection,
    SessionRejected,
)
from agent.service.fix.wire import text, utc_timestamp

APP_TYPES = frozenset({"D", "F", "G", "H"})
TAG_ALGO, TAG_SLIPPAGE = 20001, 20002
_SIDES = {"1": Side.BUY, "2": Side.SELL}
_SIDE_OUT = {Side.BUY: "1", Side.SELL: "2"}
_TYPES = {"1": OrderType.MARKET, "2": OrderType.LIMIT}
_TYPE_OUT = {OrderType.MARKET: "1", OrderType.LIMIT: "2"}
_TIF = {"1": TimeInForce.GTC, "3": TimeInForce.IOC, "4": TimeInForce.FOK}
_REQUIRED = {
    "D": (11, 55, 54, 60, 38, 40),
    "F": (41, 11, 55, 54, 60),
    "G": (41, 11, 55, 54, 60, 38, 40),
    "H": (11, 55, 54),
}
_CXL_REJ_REASON = {"UNKNOWN_ORDER": "1", "TOO_LATE": "0", "DUPLICATE": "6"}


def _need(msg: simplefix.FixMessage, msg_type: str) -> None:
    for tag in _REQUIRED[msg_type]:
        if msg.get(tag) is None:
            raise SessionRejected(REQUIRED_TAG_MISSING, tag, f"required tag {tag} is missing")


def _decimal(msg: simplefix.FixMessage, tag: int, name: str) -> Decimal:
    raw = text(msg, tag) or ""
    try:
        v = Decimal(raw)
    except InvalidOperation:
        raise SessionRejected("6", tag, f"{name}({tag}) {raw!r} is not a number") from None
    if not v.is_finite() or v <= 0:
        raise SessionRejected(VALUE_INCORRECT, tag, f"{name}({tag}) must be positive")
    return v


def _enum(
    msg: simplefix.FixMessage, tag: int, name: str, table: dict[str, Any], default: Any = None
) -> Any:
    raw = text(msg, tag)
    if raw is None and default is not None:
        return default
    if raw not in table:
        raise SessionRejected(
            VALUE_INCORRECT, tag, f"{name}({tag})={raw!r} is not supported: one of {sorted(table)}"
        )
    return table[raw]


def parse_new_order(msg: simplefix.FixMessage, msg_type: str = "D") -> NewOrder:
    _need(msg, msg_type)
    order_type = _enum(msg, 40, "OrdType", _TYPES)
    price = None
    if order_type is OrderType.LIMIT:
        if msg.get(44) is None:
            raise _Conditional(44, "Price(44) is required for a limit order")
        price = _decimal(msg, 44, "Price")
    slippage = text(msg, TAG_SLIPPAGE)
    if slippage is not None and not slippage.isdigit():
        raise SessionRejected(
            "6", TAG_SLIPPAGE, f"MaxSlippageBps({TAG_SLIPPAGE}) must be an integer"
        )
    return NewOrder(
        cl_ord_id=text(msg, 11) or "",
        symbol=text(msg, 55) or "",
        side=_enum(msg, 54, "Side", _SIDES),
        quantity=_decimal(msg, 38, "OrderQty"),
        order_type=order_type,
        limit_price=price,
        time_in_force=_enum(msg, 59, "TimeInForce", _TIF, TimeInForce.IOC),
        strategy=(text(msg, TAG_ALGO) or text(msg, 847) or "").lower(),
        max_slippage_bps=int(slippage) if slippage is not None else None,
    )


class _Conditional(Exception):
    """A conditionally required field is missing: BusinessMessageReject 380=5."""

    def __init__(self, tag: int, why: str) -> None:
        super().__init__(why)
        self.tag, self.why = tag, why


class FixApp:
    """The application side of every session: requests to ``entry``, updates back as
    ExecutionReports. ``owner`` of a session's orders is the client's CompID."""

    def __init__(self, entry: OrderEntry) -> None:
        self.entry = entry
        # cancel/replace ClOrdIDs by the order they act on, to report them as 11 with 41
        self._acting: dict[tuple[str, str], str] = {}
        self._flushing: dict[str, asyncio.Lock] = {}  # per session: one flush at a time

    async def handle(self, conn: Connection, msg_type: str, msg: simplefix.FixMessage) -> None:
        try:
            await self._handle(conn, msg_type, msg)
        finally:  # an entry may hold accepted orders until their reports are out (the daemon)
            acked = getattr(self.entry, "acknowledged", None)
            if acked is not None:
                acked()

    async def _handle(self, conn: Connection, msg_type: str, msg: simplefix.FixMessage) -> None:
        assert conn.cfg is not None
        owner = conn.cfg.target_comp_id
        seq = int(text(msg, 34) or 0)
        try:
            if msg_type == "D":
                order = parse_new_order(msg)
                try:
                    await self.entry.submit(owner, order)
                except OrderRefused as e:  # no order exists: an ExecutionReport says why
                    await self._refused(conn, order, e)
            elif msg_type == "F":
                _need(msg, "F")
                orig, cl = text(msg, 41) or "", text(msg, 11) or ""
                try:
                    self._acting[(owner, orig)] = cl
                    await self.entry.cancel(owner, orig, "cancelled by the client")
                except OrderEntryError as e:
                    await self._cancel_reject(conn, cl, orig, "1", e)
            elif msg_type == "G":
                order = parse_new_order(msg, "G")
                orig = text(msg, 41) or ""
                try:
                    await self.entry.replace(owner, orig, order)
                except OrderEntryError as e:
                    await self._cancel_reject(conn, order.cl_ord_id, orig, "2", e)
            elif msg_type == "H":
                _need(msg, "H")
                cl = text(msg, 11) or ""
                u = self.entry.status(owner, cl)
                await self.send_status(conn, cl, u, text(msg, 790))
        except _Conditional as c:
            await conn.business_reject(seq, msg_type, "5", c.why, text(msg, 11) or "")
        except ValidationError as e:  # e.g. a ClOrdID too long for the OMS
            raise SessionRejected(VALUE_INCORRECT, 11, str(e)) from None
        except JournalError as e:  # nothing was journaled: 380=4, application not available
            await conn.business_reject(seq, msg_type, "4", f"{e.code}: {e}", text(msg, 11) or "")
            return
        except AgentError as e:  # refused by the agent (a ClOrdID reused for another order)
            await conn.business_reject(seq, msg_type, "0", f"{e.code}: {e}", text(msg, 11) or "")
        await self.flush(conn)

    async def flush(self, conn: Connection) -> None:
        """Send an ExecutionReport for every update not reported yet (in journal order)."""
        assert conn.cfg is not None and conn.store is not None
        async with self._flushing.setdefault(conn.cfg.key, asyncio.Lock()):
            for u in self.entry.updates(conn.cfg.target_comp_id, conn.store.reported):
                await conn.send("8", self._report(conn.cfg.target_comp_id, u), position=u.position)

    def _report(self, owner: str, u: OrderUpdate) -> list[tuple[int, Any]]:
        cl, orig = u.cl_ord_id, u.orig_cl_ord_id
        if u.exec_type in (ExecType.CANCELED, ExecType.PENDING_CANCEL):
            acting = self._acting.get((owner, u.cl_ord_id))
            if acting:
                cl, orig = acting, u.cl_ord_id
                if u.exec_type is ExecType.CANCELED:
                    self._acting.pop((owner, u.cl_ord_id), None)
        f: list[tuple[int, Any]] = [(37, u.order_id), (11, cl)]
        if orig:
            f.append((41, orig))
        f += [(17, u.exec_id), (150, u.exec_type.value), (39, u.ord_status)]
        if u.exec_type is ExecType.REJECTED:
            f.append((103, 99))
        f += _order_fields(u)
        if u.exec_type is ExecType.TRADE:
            f += [(32, u.last_qty), (31, u.last_px)]
        f.append((60, utc_timestamp()))
        if u.text:
            f.append((58, u.text))
        return f

    async def send_status(
        self, conn: Connection, cl: str, u: OrderUpdate | None, req_id: str | None
    ) -> None:
        if u is None:
            f: list[tuple[int, Any]] = [
                (37, "NONE"),
                (11, cl),
                (17, "0"),
                (150, "I"),
                (39, "8"),
                (151, 0),
                (14, 0),
                (6, 0),
                (58, "unknown order"),
            ]
        else:
            f = [
                (37, u.order_id),
                (11, cl),
                (17, f"S{u.position}"),
                (150, "I"),
                (39, u.ord_status),
                *_order_fields(u),
            ]
        if req_id:
            f.append((790, req_id))
        await conn.send("8", f)

    async def _refused(self, conn: Connection, o: NewOrder, e: OrderEntryError) -> None:
        """ExecutionReport(Rejected) for an order refused before it existed: OrderID NONE,
        an ExecID of its own (``R`` + random hex: no journal position stands behind it), the
        code in Text."""
        u = OrderUpdate(
            0, "", o.cl_ord_id, "NONE", ExecType.REJECTED, "8", o.symbol, o.side, o.quantity,
            o.order_type, o.limit_price, Decimal(0), Decimal(0), Decimal(0),
            text=f"{e.code}: {e.message}",
        )  # fmt: skip
        f = self._report("", u)
        f[f.index((17, "0"))] = (17, f"R{secrets.token_hex(8)}")
        await conn.send("8", f)

    async def _cancel_reject(
        self, conn: Connection, cl: str, orig: str, to: str, e: OrderEntryError
    ) -> None:
        assert conn.cfg is not None
        self._acting.pop((conn.cfg.target_comp_id, orig), None)
        u = self.entry.status(conn.cfg.target_comp_id, orig) if e.code != "UNKNOWN_ORDER" else None
        await conn.send(
            "9",
            [
                (37, u.order_id if u else "NONE"),
                (11, cl),
                (41, orig),
                (39, u.ord_status if u else "8"),
                (434, to),
                (102, _CXL_REJ_REASON.get(e.code, "99")),
                (58, str(e)),
            ],
        )


def _order_fields(u: OrderUpdate) -> list[tuple[int, Any]]:
    f: list[tuple[int, Any]] = [
        (55, u.symbol),
        (54, _SIDE_OUT[u.side]),
        (38, u.quantity),
        (40, _TYPE_OUT[u.order_type]),
    ]
    if u.limit_price is not None:
        f.append((44, u.limit_price))
    return [*f, (151, u.leaves_qty), (14, u.cum_qty), (6, u.avg_px)]
