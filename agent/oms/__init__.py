"""Order management: messages, the order state machine, the order store (a fold over the
journal), the order manager, recovery and reconciliation. See docs/journal.md."""

from agent.oms.commands import CancelOrder, SetTradingState, SubmitOrder
from agent.oms.events import *  # noqa: F403  (the event vocabulary is the package's API)
from agent.oms.events import order_stream, recon_stream, tx_stream
from agent.oms.manager import OrderManager, stream_of
from agent.oms.order import TERMINAL, TRANSITIONS, Order, OrderState, OverfillError
from agent.oms.store import OrderStore, ParentView
from agent.oms.trading import gate
from agent.oms.tx import TX_TRANSITIONS, TxRecord, TxState

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "TX_TRANSITIONS",
    "CancelOrder",
    "Order",
    "OrderManager",
    "OrderState",
    "OrderStore",
    "OverfillError",
    "ParentView",
    "SetTradingState",
    "SubmitOrder",
    "TxRecord",
    "TxState",
    "gate",
    "order_stream",
    "recon_stream",
    "stream_of",
    "tx_stream",
]
