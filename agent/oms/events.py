"""Events: what happened, past tense, journaled. Registered in agent.journal's registry under
their class name, which is part of the journal format (never rename; add a new event).

Streams: ``order-<client_order_id>`` for order events, ``tx-<chain_id>-<sender>`` for
transaction events, ``trading`` for the desk-wide trading state, ``recon-<venue>`` for
reconciliation cursors. Helpers below build these names so nobody spells them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.journal.codec import event_type
from agent.model import OrderType, Side, TimeInForce, TradingState

TRADING_STREAM = "trading"


def order_stream(client_order_id: str) -> str:
    return f"order-{client_order_id}"


def tx_stream(chain_id: int, sender: str) -> str:
    return f"tx-{chain_id}-{sender.lower()}"


def recon_stream(venue: str) -> str:
    return f"recon-{venue}"


def sim_stream(client_order_id: str, chain_id: int = 0, safe: str = "") -> str:
    """Where an order's pre-sign simulations are journaled; one not made for an order goes
    to its chain and Safe's stream."""
    return f"sim-{client_order_id}" if client_order_id else f"sim-{chain_id}-{safe.lower()}"


# --- orders ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CheckVerdict:
    """One pre-trade check's verdict, kept with the order (not an event of its own).
    ``verdict`` is allow | deny | reduce; ``max_quantity`` is set for reduce."""

    check: str
    verdict: str
    code: str = ""
    reason: str = ""
    rule: str = ""
    max_quantity: Decimal | None = None


@event_type
@dataclass(frozen=True, slots=True)
class OrderInitialized:
    """The order as asked for; first event of its stream. ``quantity`` is in base units of
    the instrument (Decimal, human scale)."""

    client_order_id: str
    instrument: str  # symbol, e.g. "WETH/USDC"
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.IOC
    venue: str = ""
    parent_id: str | None = None
    reduce_only: bool = False
    max_slippage_bps: int | None = None
    strategy: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class OrderAccepted:
    """Passed the pre-trade gate (trading state, risk, policy). ``verdicts`` (added later;
    empty in older journals) has every check's verdict with its code and reason."""

    client_order_id: str
    checks: tuple[str, ...] = ()
    verdicts: tuple[CheckVerdict, ...] = ()


@event_type
@dataclass(frozen=True, slots=True)
class OrderDenied:
    """Refused before anything was sent: by the trading state, a risk check or a policy rule."""

    client_order_id: str
    code: str
    reason: str
    rule: str = ""
    checks: tuple[str, ...] = ()
    verdicts: tuple[CheckVerdict, ...] = ()


@event_type
@dataclass(frozen=True, slots=True)
class OrderSubmitted:
    """Handed to the venue (request sent, or transaction broadcast). ``venue_order_id`` is the
    exchange's id or the tx hash when known."""

    client_order_id: str
    venue: str
    venue_order_id: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class OrderAcknowledged:
    """The venue confirmed it holds the order (also used when reconciliation finds it)."""

    client_order_id: str
    venue_order_id: str


@event_type
@dataclass(frozen=True, slots=True)
class OrderPartiallyFilled:
    client_order_id: str
    trade_id: str
    quantity: Decimal  # this fill's quantity
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_asset: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class OrderFilled:
    """The fill that completes the order (filled == quantity afterwards)."""

    client_order_id: str
    trade_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_asset: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class OrderCancelRequested:
    client_order_id: str
    reason: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class OrderCancelled:
    client_order_id: str
    reason: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class OrderExpired:
    client_order_id: str
    reason: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The venue or the chain refused it (exchange reject, reverted transaction)."""

    client_order_id: str
    code: str
    reason: str


@event_type
@dataclass(frozen=True, slots=True)
class OrderUnknown:
    """We lost track (crash between send and ack, venue forgot it). Never a failure: only
    the venue or chain moves the order on from here."""

    client_order_id: str
    reason: str


# --- transactions ----------------------------------------------------------------------------
@event_type
@dataclass(frozen=True, slots=True)
class TxSigned:
    """WRITE-AHEAD record: journaled (durably) after signing and before broadcast, with the
    exact raw bytes, so a restart re-broadcasts the same transaction (same hash) instead of
    signing a second one."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    raw_tx: bytes
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    client_order_id: str | None = None
    replaces: str | None = None  # tx hash this one speeds up or cancels


@event_type
@dataclass(frozen=True, slots=True)
class TxSent:
    """The node accepted the broadcast."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str


@event_type
@dataclass(frozen=True, slots=True)
class TxReplaced:
    """``old_tx_hash`` is superseded by ``new_tx_hash`` for the same nonce (speed-up/cancel)."""

    chain_id: int
    sender: str
    nonce: int
    old_tx_hash: str
    new_tx_hash: str
    cancel: bool = False


@event_type
@dataclass(frozen=True, slots=True)
class TxMined:
    """The receipt: mined in ``block_number``/``block_hash``. ``confirmed``: the receipt was
    already at the confirmation depth when first seen (one event instead of a TxMined and a
    TxConfirmed right after it): the record goes straight to CONFIRMED."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    block_number: int
    block_hash: str
    success: bool
    gas_used: int = 0
    effective_gas_price: int = 0
    confirmed: bool = False


@event_type
@dataclass(frozen=True, slots=True)
class TxConfirmed:
    """Mined and buried under ``depth`` blocks: fills may be treated as final."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    block_number: int
    depth: int


@event_type
@dataclass(frozen=True, slots=True)
class TxReorged:
    """A mined transaction left the canonical chain; it is tracked as pending again."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    block_number: int
    block_hash: str


@event_type
@dataclass(frozen=True, slots=True)
class TxDropped:
    """The nonce was consumed by another transaction, or the node forgot this one for good."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    reason: str


# --- simulation before signing (agent.chain.simulate) ----------------------------------------
@dataclass(frozen=True, slots=True)
class SimDelta:
    """A net change of the Safe's balance: lower-case token address (or "ETH"), base units."""

    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class SimApproval:
    token: str
    spender: str
    amount: int  # the allowance the call leaves


@event_type
@dataclass(frozen=True, slots=True)
class TxSimulated:
    """The exact module call was simulated before signing (stream ``sim-<client id>``).
    ``verdict`` allow | deny is the simulation's check against ``expected`` (the intent's
    bounds, or the batch's own approvals); a policy Deny after it is journaled with the
    order. Changes no OMS state: an audit record for `agent policy explain`."""

    client_order_id: str
    chain_id: int
    safe: str
    module: str
    calldata_hash: str  # keccak of the PolicyModule calldata simulated (= the one signed)
    block: str
    traced: bool
    ok: bool
    verdict: str
    code: str = ""
    reason: str = ""
    expected: str = ""
    error: str = ""
    warning: str = ""
    gas_used: int = 0
    deltas: tuple[SimDelta, ...] = ()
    approvals: tuple[SimApproval, ...] = ()


# --- desk-wide state and reconciliation ------------------------------------------------------
@event_type
@dataclass(frozen=True, slots=True)
class TradingStateChanged:
    state: TradingState
    reason: str = ""
    by: str = ""


@event_type
@dataclass(frozen=True, slots=True)
class VenueReconciled:
    """Where the next ``fills_since`` must start for this venue."""

    venue: str
    cursor: str
    differences: int = 0


OrderEvent = (
    OrderInitialized
    | OrderAccepted
    | OrderDenied
    | OrderSubmitted
    | OrderAcknowledged
    | OrderPartiallyFilled
    | OrderFilled
    | OrderCancelRequested
    | OrderCancelled
    | OrderExpired
    | OrderRejected
    | OrderUnknown
)
TxEvent = TxSigned | TxSent | TxReplaced | TxMined | TxConfirmed | TxReorged | TxDropped
