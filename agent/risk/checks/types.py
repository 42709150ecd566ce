"""What a pre-trade check sees: the proposal, the limits and a frozen context snapshot.

The context carries every input with its timestamp; a check that needs an input that is
absent or older than ``limits.max_staleness`` denies (``RISK_INPUT_MISSING`` /
``RISK_INPUT_STALE``) - the gate never allows on data it does not have.

Everything a check needs is precomputed into the context (see
:func:`agent.risk.context.build_context`), so a check is a few dict lookups and Decimal
operations: the gate runs on the hot path before every signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import numpy as np

from agent.errors import ValidationError
from agent.model.decisions import Deny, Reduce
from agent.model.enums import Side, TradingState
from agent.model.instruments import Instrument, OptionContract
from agent.model.positions import underlying_of

MISSING = "RISK_INPUT_MISSING"
STALE = "RISK_INPUT_STALE"
ZERO = Decimal(0)


def _positive(name: str, v: Decimal | None, required: bool = True) -> None:
    if v is None:
        if required:
            raise ValidationError(name, "is required")
        return
    if not isinstance(v, Decimal) or not v.is_finite() or v <= 0:
        raise ValidationError(name, f"{v} must be a positive finite Decimal", "e.g. 1.5")


@dataclass(frozen=True, slots=True)
class OrderProposal:
    """An order the OMS would like to send. ``size`` > 0 in instrument units (contracts for
    options); ``price`` is the limit or worst acceptable price; ``quote_price`` the price of
    the executable quote the order was planned on (venue-side, incl. fees)."""

    client_order_id: str
    instrument: Instrument
    side: Side
    size: Decimal
    venue: str
    price: Decimal | None = None
    quote_price: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    # Derived once here because the gate reads them in every check (an option's symbol is
    # a strftime away).
    symbol: str = field(init=False, repr=False, compare=False)
    underlying: str = field(init=False, repr=False, compare=False)
    signed_size: Decimal = field(init=False, repr=False, compare=False)
    is_option: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.client_order_id:
            raise ValidationError("order.client_order_id", "is empty", "give a unique id")
        if not self.venue:
            raise ValidationError("order.venue", "is empty")
        _positive("order.size", self.size)
        _positive("order.price", self.price, required=False)
        _positive("order.quote_price", self.quote_price, required=False)
        _positive("order.multiplier", self.multiplier)
        if not isinstance(self.side, Side):
            raise ValidationError("order.side", f"{self.side!r} is not buy or sell")
        setattr_ = object.__setattr__
        setattr_(self, "symbol", self.instrument.symbol)
        setattr_(self, "underlying", underlying_of(self.instrument))
        setattr_(self, "signed_size", self.size if self.side is Side.BUY else -self.size)
        setattr_(self, "is_option", isinstance(self.instrument, OptionContract))


@dataclass(frozen=True, slots=True)
class PricePoint:
    price: Decimal
    as_of: datetime


@dataclass(frozen=True, slots=True)
class GreeksPoint:
    """Delta (underlying units) and vega (per 1.00 vol)."""

    delta: float
    vega: float


@dataclass(frozen=True, slots=True)
class MarginState:
    """The margin report the context was built from, reduced to what the check needs."""

    equity: float
    maintenance: float
    initial: float
    im_multiplier: float
    contingency_rate: float
    # per underlying: grid PnL (flattened spot x vol grid) and current maintenance
    grid_pnl: Mapping[str, np.ndarray]
    maintenance_by_underlying: Mapping[str, float]
    short_option_units: Mapping[str, float]
    as_of: datetime
    equity_dec: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "equity_dec", Decimal(repr(float(self.equity))))


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Desk limits. Mapping limits are keyed by symbol/underlying/venue; ``"*"`` is the
    default for keys not listed. A key absent with no ``"*"`` means no limit for it."""

    max_order_notional: Decimal
    max_position: Mapping[str, Decimal] = field(default_factory=dict)  # per instrument, |size|
    max_underlying_position: Mapping[str, Decimal] = field(default_factory=dict)  # gross units
    price_band_bps: int = 500
    max_slippage_bps: int = 100
    max_venue_exposure: Mapping[str, Decimal] = field(default_factory=dict)  # gross notional
    max_concentration: Decimal = Decimal(5)  # underlying gross notional / equity
    max_abs_delta: Mapping[str, Decimal] = field(default_factory=dict)  # underlying units
    max_abs_vega: Mapping[str, Decimal] = field(default_factory=dict)
    max_orders: int = 50
    rate_window: timedelta = timedelta(seconds=10)
    max_staleness: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        _positive("limits.max_order_notional", self.max_order_notional)
        for name in ("price_band_bps", "max_slippage_bps", "max_orders"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValidationError(f"limits.{name}", f"{v} must be a non-negative integer")
        _positive("limits.max_concentration", self.max_concentration)


def lookup(m: Mapping[str, Decimal], key: str) -> Decimal | None:
    v = m.get(key)
    return m.get("*") if v is None else v


@dataclass(frozen=True, slots=True)
class RiskContext:
    """A frozen snapshot of everything the checks read. Built per order (or per tick)."""

    now: datetime
    trading_state: TradingState
    limits: RiskLimits
    positions_as_of: datetime | None
    positions: Mapping[str, Decimal]  # symbol -> signed size, all venues
    underlying_gross: Mapping[str, Decimal]  # underlying -> gross units (size x multiplier)
    underlying_gross_notional: Mapping[str, Decimal]  # quote currency
    venue_exposure: Mapping[str, Decimal]  # venue -> gross notional, quote currency
    reference_prices: Mapping[str, PricePoint]  # instrument symbol -> mark/reference
    underlying_prices: Mapping[str, PricePoint]  # underlying -> spot
    portfolio_greeks: Mapping[str, GreeksPoint]  # underlying -> current Greeks
    greeks_as_of: datetime | None
    unit_greeks: Mapping[str, GreeksPoint]  # symbol -> per instrument unit (incl. multiplier)
    margin: MarginState | None
    unit_grid_pnl: Mapping[str, np.ndarray]  # symbol -> margin-grid PnL per instrument unit
    recent_orders: tuple[datetime, ...] = ()  # submission times, any order
    fresh_after: datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValidationError("context.now", "is naive", "give a timezone-aware UTC time")
        object.__setattr__(self, "fresh_after", self.now - self.limits.max_staleness)

    def stale(self, as_of: datetime | None) -> bool:
        return as_of is None or as_of < self.fresh_after


_BPS = Decimal(10_000)
_BPS_EXACT = Decimal("1e-9")


def bps_of(off: Decimal, base: Decimal) -> Decimal:
    """``off`` in bps of ``base``, to 1e-9 bps: a worst price made as quote x (1 + N bps) in
    28-digit Decimals comes back as N bps plus a few units of the 28th digit, which must not
    deny an order sitting exactly at its limit."""
    return (off / base * _BPS).quantize(_BPS_EXACT)


def missing(rule: str, what: str) -> Deny:
    return Deny(MISSING, f"{what} is missing; refusing to trade blind", rule)


def stale(rule: str, what: str) -> Deny:
    return Deny(STALE, f"{what} is stale; refresh market/position data and retry", rule)


def floor_like(x: Decimal, like: Decimal) -> Decimal:
    """``x`` rounded down to the number of decimal places of ``like`` (an order size), so a
    Reduce proposes a size the venue accepts and never more than the limit allows."""
    exp = min(like.as_tuple().exponent, 0)  # type: ignore[operator]
    return x.quantize(Decimal(1).scaleb(exp), rounding=ROUND_DOWN)


def reduce_or_deny(code: str, rule: str, max_q: Decimal, size: Decimal, reason: str):
    """Reduce to ``max_q`` when some of the order fits, else Deny."""
    q = floor_like(max_q, size) if max_q > 0 else ZERO
    if q > 0:
        return Reduce(q, reason, rule, code)
    return Deny(code, reason, rule)
