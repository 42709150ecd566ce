"""ccxt's ``has`` dict -> our typed :class:`Capabilities`, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.model import OrderType, TimeInForce
from agent.venues.base import Capabilities


def _yes(has: Mapping[str, Any], key: str) -> bool:
    return has.get(key) in (True, "emulated")


def capabilities_from_has(has: Mapping[str, Any], *, streaming_enabled: bool) -> Capabilities:
    order_types = (
        {OrderType.LIMIT} if _yes(has, "createLimitOrder") or _yes(has, "createOrder") else set()
    )
    if _yes(has, "createMarketOrder") or _yes(has, "createOrder"):
        order_types.add(OrderType.MARKET)
    return Capabilities(
        order_types=frozenset(order_types),
        time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
        cancel=_yes(has, "cancelOrder"),
        amend=_yes(has, "editOrder"),
        streaming=streaming_enabled and (_yes(has, "watchMyTrades") or _yes(has, "watchOrders")),
        reports=_yes(has, "fetchOpenOrders")
        and _yes(has, "fetchMyTrades")
        and _yes(has, "fetchOrder"),
        atomic_batch=False,
        on_chain=False,
    )
