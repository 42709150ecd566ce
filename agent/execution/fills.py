"""Fills of a swap order from its transaction's receipt: the token Transfer logs.

Pure functions over receipt logs, shared by the live pipeline (right after the receipt) and
recovery (a receipt found on restart, or after a reorg re-mined the transaction), so both
record the same fill with the same trade id (the transaction hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agent.model import Side, from_base_units
from agent.oms.events import OrderFilled, OrderPartiallyFilled
from agent.oms.order import Order

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def transfers(logs: Sequence[dict[str, Any]], token: str) -> list[tuple[str, str, int]]:
    """(from, to, amount) of every ERC-20 Transfer of ``token`` in the receipt logs."""
    out = []
    t = token.lower()
    for log in logs:
        topics = log.get("topics") or ()
        if log["address"].lower() == t and len(topics) == 3 and topics[0] == TRANSFER_TOPIC:
            out.append(("0x" + topics[1][-40:], "0x" + topics[2][-40:], int(log["data"], 16)))
    return out


def safe_legs(
    logs: Sequence[dict[str, Any]], safe: str, token_in: str, token_out: str
) -> tuple[int, int]:
    """(paid by the Safe in ``token_in``, received by the Safe in ``token_out``), base units."""
    s = safe.lower()
    paid = sum(a for f, _t, a in transfers(logs, token_in) if f.lower() == s)
    got = sum(a for _f, t, a in transfers(logs, token_out) if t.lower() == s)
    return paid, got


def swap_price(side: Side, paid: Decimal, got: Decimal) -> Decimal | None:
    """Quote asset per base asset (human units) of a swap that paid/got these amounts."""
    if not paid or not got:
        return None
    return paid / got if side is Side.BUY else got / paid


def fill_event(
    order: Order,
    trade_id: str,
    paid: int,
    got: int,
    decimals_in: int,
    decimals_out: int,
) -> OrderFilled | OrderPartiallyFilled | None:
    """The fill a mined swap gives ``order`` (None if it moved nothing). The base amount is
    what the Safe received (buy) or paid (sell). Exact-out buys and exact-in sells move
    exactly the order's size; a larger amount (impossible through these venues) is capped at
    what remains, so an order is never overfilled."""
    p = from_base_units(paid, decimals_in)
    g = from_base_units(got, decimals_out)
    base = g if order.side is Side.BUY else p
    price = swap_price(order.side, p, g)
    if base <= 0 or price is None or order.remaining <= 0:
        return None
    q = min(base, order.remaining)
    cls = OrderFilled if q == order.remaining else OrderPartiallyFilled
    return cls(order.client_order_id, trade_id, q, price)
