"""A portfolio as arrays: every position of every venue, revalued in one numpy pass.

:class:`Book` flattens :class:`agent.model.positions.Portfolio` (CEX and on-chain positions
alike) against a :class:`MarketSnapshot` into column arrays, one row per position, so that
scenario revaluation, VaR and margin are broadcasts, not Python loops.

Value conventions (all in the snapshot's quote currency):
  * spot holding: ``size * S`` (the asset itself is equity);
  * perpetual: ``size * (S - entry)`` (unrealized PnL; the perp marks at the index ``S``);
  * option: ``size * multiplier * BS(S, K, t, vol)`` (long positive, short negative).
Collateral in the quote currency (or any asset without a market, taken 1:1, e.g. USDC) is
cash; collateral in an asset that has a market becomes a spot position at venue
``collateral``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from agent.errors import ValidationError
from agent.model.enums import OptionKind
from agent.model.instruments import OptionContract, Perpetual, Spot
from agent.model.positions import Portfolio, Position
from agent.risk._validate import FloatArray
from agent.risk.market import MarketSnapshot
from agent.risk.pricing.black import black_scholes_greeks, price_unchecked

SPOT, PERP, OPTION = 0, 1, 2
MIN_VOL = 0.01  # floor for shocked vols: a vol shock never produces a zero or negative vol


@dataclass(frozen=True, slots=True)
class Book:
    """Column arrays over positions. ``und`` indexes ``underlyings``."""

    underlyings: tuple[str, ...]
    spots: FloatArray  # per underlying
    labels: tuple[str, ...]  # per position: "SYMBOL@venue"
    venues: tuple[str, ...]
    und: np.ndarray  # int index per position
    kind: np.ndarray  # SPOT / PERP / OPTION
    qty: FloatArray  # signed underlying units (options: size * multiplier)
    w: FloatArray  # +1 call, -1 put, 0 linear
    strike: FloatArray
    t: FloatArray
    vol: FloatArray
    rate: FloatArray
    carry: FloatArray
    entry: FloatArray
    cash: float
    quote: str

    @property
    def n(self) -> int:
        return int(self.qty.size)

    @classmethod
    def build(cls, portfolio: Portfolio, market: MarketSnapshot) -> Book:
        positions = list(portfolio.positions)
        cash = 0.0
        for asset, amount in portfolio.collateral:
            if asset in market.underlyings:
                positions.append(Position(Spot(asset, market.quote), amount, "collateral"))
            else:
                cash += float(amount)
        unds = tuple(sorted({p.underlying for p in positions}))
        pos_of = {u: i for i, u in enumerate(unds)}
        mkts = [market.get(u) for u in unds]
        n = len(positions)
        und = np.empty(n, dtype=np.intp)
        kind = np.empty(n, dtype=np.int8)
        qty, w, strike, t, vol, rate, carry, entry = (np.zeros(n) for _ in range(8))
        labels, venues = [], []
        for i, p in enumerate(positions):
            ui = pos_of[p.underlying]
            m = mkts[ui]
            und[i] = ui
            rate[i], carry[i] = m.rate, m.carry
            vol[i] = m.vol
            strike[i] = 1.0  # unused by linear rows; 1.0 keeps the shared kernels finite
            labels.append(f"{p.instrument.symbol}@{p.venue}")
            venues.append(p.venue)
            inst = p.instrument
            if isinstance(inst, OptionContract):
                kind[i] = OPTION
                qty[i] = float(p.size * p.multiplier)
                w[i] = 1.0 if inst.kind is OptionKind.CALL else -1.0
                strike[i] = float(inst.strike)
                if not strike[i] > 0:
                    raise ValidationError(f"position[{labels[-1]}].strike", "must be > 0")
                t[i] = market.year_fraction(inst.expiry)
                vol[i] = float(market.option_vols.get(inst.symbol, m.vol))
            elif isinstance(inst, Perpetual):
                kind[i] = PERP
                qty[i] = float(p.size)
                entry[i] = float(p.entry_price or Decimal(0))
            else:
                kind[i] = SPOT
                qty[i] = float(p.size)
        return cls(
            underlyings=unds,
            spots=np.array([m.spot for m in mkts]),
            labels=tuple(labels),
            venues=tuple(venues),
            und=und,
            kind=kind,
            qty=qty,
            w=w,
            strike=strike,
            t=t,
            vol=vol,
            rate=rate,
            carry=carry,
            entry=entry,
            cash=cash,
            quote=market.quote,
        )

    def subset(self, mask: np.ndarray) -> Book:
        """The positions selected by ``mask`` (cash is kept only by the full book)."""
        return Book(
            self.underlyings,
            self.spots,
            tuple(x for x, m in zip(self.labels, mask, strict=True) if m),
            tuple(x for x, m in zip(self.venues, mask, strict=True) if m),
            self.und[mask],
            self.kind[mask],
            self.qty[mask],
            self.w[mask],
            self.strike[mask],
            self.t[mask],
            self.vol[mask],
            self.rate[mask],
            self.carry[mask],
            self.entry[mask],
            0.0,
            self.quote,
        )

    # --- valuation --------------------------------------------------------------------
    def unit_values(self, spot: FloatArray, vol_mult: FloatArray | float = 1.0, dt: float = 0.0):
        """Per-unit value of every position under scenario spots.

        ``spot`` has shape (..., n_positions) (each position's underlying price in that
        scenario); ``vol_mult`` (scalar, or broadcastable to ``spot``) multiplies vols,
        floored at MIN_VOL; ``dt`` years pass.
        Returns an array of the same shape; multiply by ``qty`` for position values.
        """
        opt = self.kind == OPTION
        out = np.where(self.kind == PERP, spot - self.entry, spot)
        if opt.any():
            s = spot[..., opt]
            vm = vol_mult if np.ndim(vol_mult) == 0 else np.broadcast_to(vol_mult, spot.shape)
            v = np.maximum(self.vol[opt] * (vm if np.ndim(vm) == 0 else vm[..., opt]), MIN_VOL)
            t = np.maximum(self.t[opt] - dt, 0.0)
            out[..., opt] = price_unchecked(
                self.w[opt], s, self.strike[opt], t, v, self.rate[opt], self.carry[opt]
            )
        return out

    def position_values(self) -> FloatArray:
        return self.qty * self.unit_values(self.spots[self.und])

    def equity(self) -> float:
        """Cash plus the mark value of every position."""
        return self.cash + float(self.position_values().sum())

    def greeks(self) -> PositionGreeks:
        """Position-level Greeks (already multiplied by the signed quantity)."""
        n = self.n
        z = np.zeros(n)
        delta, gamma, vega, theta, rho, vanna, volga = (z.copy() for _ in range(7))
        delta[:] = np.where(self.kind == OPTION, 0.0, 1.0)
        opt = self.kind == OPTION
        if opt.any():
            g = black_scholes_greeks(
                self.w[opt],
                self.spots[self.und[opt]],
                self.strike[opt],
                self.t[opt],
                self.vol[opt],
                self.rate[opt],
                self.carry[opt],
            )
            delta[opt], gamma[opt], vega[opt] = g.delta, g.gamma, g.vega
            theta[opt], rho[opt], vanna[opt], volga[opt] = g.theta, g.rho, g.vanna, g.volga
        q = self.qty
        return PositionGreeks(
            q * delta, q * gamma, q * vega, q * theta, q * rho, q * vanna, q * volga
        )


@dataclass(frozen=True, slots=True)
class PositionGreeks:
    """Per-position Greeks times signed quantity. Units as in agent.risk.pricing.black:
    delta in underlying units, gamma per unit of spot, vega/vanna/volga per 1.00 vol, theta
    per year, rho per 1.00 rate."""

    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray
    vanna: FloatArray
    volga: FloatArray


@dataclass(frozen=True, slots=True)
class UnderlyingGreeks:
    underlying: str
    spot: float
    delta: float  # underlying units
    delta_value: float  # delta * spot, quote currency
    gamma: float
    gamma_value: float  # PnL from gamma alone for a 1% spot move: 0.5 * gamma * (0.01 S)^2
    vega: float
    theta: float
    rho: float
    vanna: float
    volga: float


def aggregate_greeks(book: Book) -> list[UnderlyingGreeks]:
    """Portfolio Greeks per underlying, across every venue."""
    g = book.greeks()
    out = []
    for i, u in enumerate(book.underlyings):
        m = book.und == i
        s = float(book.spots[i])
        d = float(g.delta[m].sum())
        gm = float(g.gamma[m].sum())
        out.append(
            UnderlyingGreeks(
                underlying=u,
                spot=s,
                delta=d,
                delta_value=d * s,
                gamma=gm,
                gamma_value=0.5 * gm * (0.01 * s) ** 2,
                vega=float(g.vega[m].sum()),
                theta=float(g.theta[m].sum()),
                rho=float(g.rho[m].sum()),
                vanna=float(g.vanna[m].sum()),
                volga=float(g.volga[m].sum()),
            )
        )
    return out
