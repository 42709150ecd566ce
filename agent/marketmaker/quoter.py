"""Pure quoting logic: price an RFQ from the model, apply the spread, enforce inventory
limits, and sign. The HTTP server (agent.marketmaker.server) is a thin shell around it."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from eth_account import Account

from agent.errors import AgentError
from agent.marketmaker.inventory import Inventory, InventoryLimits, Outstanding
from agent.model import Side
from agent.strategies.pricing import MarketView, VolSurface
from agent.venues.options.eip712 import (
    ZERO_ADDRESS,
    MakerSide,
    OptionQuote,
    SignedQuote,
    sign_quote,
)
from agent.venues.options.series import SeriesTerms

MAX_BPS = 10_000


class QuoteRefused(AgentError):
    """The maker will not quote this RFQ; ``code`` says why (MM_*)."""

    code = "MM_REFUSED"


@dataclass(frozen=True, slots=True)
class Rfq:
    """A request for quote: the taker wants to ``side`` ``amount`` (underlying base units)."""

    series: SeriesTerms
    side: Side
    amount: int
    taker: str = ZERO_ADDRESS


@dataclass(frozen=True, slots=True)
class MakerConfig:
    key: str
    chain_id: int
    market: str
    surface: VolSurface
    limits: InventoryLimits
    spread_bps: int = 300  # half-spread around the model mid
    min_half_spread: Decimal = Decimal("0.5")  # quote currency per unit, for cheap wings
    ttl_s: int = 30
    min_series_ttl_s: int = 3600
    rate: float = 0.0

    @property
    def maker(self) -> str:
        return Account.from_key(self.key).address


# A hedger takes a series (for its underlying and quote asset) and the delta to add (whole
# underlying units, signed), and does it, e.g. with a swap (agent.marketmaker.hedger).
Hedger = Callable[[SeriesTerms, Decimal], Awaitable[None]]


class Quoter:
    def __init__(
        self,
        cfg: MakerConfig,
        spot: Callable[[SeriesTerms], Awaitable[Decimal]],
        *,
        inventory: Inventory | None = None,
        hedger: Hedger | None = None,
        is_filled: Callable[[int], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.time,
        first_nonce: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.maker = cfg.maker
        self.spot = spot
        self.inventory = inventory or Inventory()
        self.hedger = hedger
        self.is_filled = is_filled
        self.clock = clock
        self._terms: dict[int, SeriesTerms] = {}
        # Nonces from the clock so a restarted maker never reuses one it already signed.
        self._nonces = itertools.count(first_nonce if first_nonce is not None else time.time_ns())
        self.hedges: list[Decimal] = []

    async def sweep(self) -> None:
        """Settle the fate of expired outstanding quotes (filled or not) from the chain."""
        now = int(self.clock())
        for o in self.inventory.expired(now):
            filled = await self.is_filled(o.nonce) if self.is_filled else False
            self.inventory.resolve(o.nonce, filled)

    async def book_delta(
        self, view: MarketView, underlying: str, extra: tuple[int, int] | None = None
    ) -> Decimal:
        """Net delta in ``underlying`` (whole units) of positions, outstanding quotes and
        hedges; ``view`` prices that underlying."""
        key = underlying.lower()
        total = self.inventory.hedge_delta.get(key, Decimal(0))
        ids = self.inventory.series_ids() | ({extra[0]} if extra else set())
        for sid in ids:
            t = self._terms.get(sid)
            if t is None or t.underlying.lower() != key:
                continue
            pos = self.inventory.exposure(sid) + (extra[1] if extra and extra[0] == sid else 0)
            if pos == 0:
                continue
            g = view.greeks(t.kind, Decimal(t.strike).scaleb(-t.quote_decimals), t.expiry)
            total += Decimal(pos).scaleb(-t.underlying_decimals) * Decimal(repr(g.delta))
        return total

    def price(self, rfq: Rfq, view: MarketView) -> tuple[int, Decimal]:
        """(price in quote base units per whole underlying, model mid) for this RFQ."""
        s = rfq.series
        strike = Decimal(s.strike).scaleb(-s.quote_decimals)
        g = view.greeks(s.kind, strike, s.expiry)
        mid = Decimal(repr(g.price))
        if s.is_call and not s.collateral_is_underlying:  # capped call = call spread K/cap
            cap = Decimal(s.cap).scaleb(-s.quote_decimals)
            mid -= Decimal(repr(view.greeks(s.kind, cap, s.expiry).price))
        half = max(mid * self.cfg.spread_bps / MAX_BPS, self.cfg.min_half_spread)
        px = mid + half if rfq.side is Side.BUY else mid - half
        rounding = ROUND_CEILING if rfq.side is Side.BUY else ROUND_FLOOR
        units = int(px.scaleb(s.quote_decimals).to_integral_value(rounding=rounding))
        return units, mid

    async def quote(self, rfq: Rfq) -> SignedQuote:
        s = rfq.series
        now = int(self.clock())
        if rfq.amount <= 0:
            raise QuoteRefused(f"amount {rfq.amount} must be positive", code="MM_BAD_REQUEST")
        if s.expiry < now + self.cfg.min_series_ttl_s:
            raise QuoteRefused(
                f"series expires at {s.expiry}, less than {self.cfg.min_series_ttl_s}s away",
                code="MM_SERIES_EXPIRED",
            )
        await self.sweep()
        spot = await self.spot(s)
        view = MarketView(spot, self.cfg.surface, float(now), self.cfg.rate)
        sid = s.series_id
        self._terms[sid] = s
        change = rfq.amount if rfq.side is Side.SELL else -rfq.amount  # maker's side is opposite
        after = self.inventory.exposure(sid) + change
        if abs(Decimal(after).scaleb(-s.underlying_decimals)) > self.cfg.limits.max_position:
            raise QuoteRefused(
                f"position in series {sid:#x} would be "
                f"{Decimal(after).scaleb(-s.underlying_decimals)}, limit "
                f"{self.cfg.limits.max_position}",
                code="MM_POSITION_LIMIT",
            )
        delta_after = await self.book_delta(view, s.underlying, (sid, change))
        hedge = Decimal(0)
        if abs(delta_after) > self.cfg.limits.max_delta:
            if self.hedger is None:
                raise QuoteRefused(
                    f"book delta would be {delta_after:.4f}, limit {self.cfg.limits.max_delta}",
                    code="MM_DELTA_LIMIT",
                )
            hedge = -delta_after  # flatten the whole book's delta
        price, _mid = self.price(rfq, view)
        if price <= 0:
            raise QuoteRefused("model value rounds to no bid", code="MM_NO_BID")
        nonce = next(self._nonces)
        q = OptionQuote(
            maker=self.maker,
            taker=rfq.taker,
            series_id=sid,
            side=MakerSide.for_taker(rfq.side),
            price=price,
            size=rfq.amount,
            expiry=now + self.cfg.ttl_s,
            nonce=nonce,
        )
        signed = sign_quote(q, self.cfg.key, self.cfg.chain_id, self.cfg.market)
        self.inventory.reserve(Outstanding(sid, change, nonce, q.expiry))
        if hedge and self.hedger is not None:
            await self.hedger(s, hedge)
            key = s.underlying.lower()
            self.inventory.hedge_delta[key] = (
                self.inventory.hedge_delta.get(key, Decimal(0)) + hedge
            )
            self.hedges.append(hedge)
        return signed
