"""Execution quality of one parent order, from its algorithm's journal stream.

Implementation shortfall against the arrival price (the mid when the parent arrived), in bps
of the arrival notional of what was filled, split the way desks read it (Perold):

* delay  = sum over slices of (mid when the slice left - arrival) * filled, signed for the side:
  what waiting for the schedule cost (or earned);
* impact = sum of (price paid ex fees - mid when the slice left) * filled: what taking
  liquidity cost (for a sell: mid minus price received before fees);
* fees   = venue fees paid, gas = gas and bridge costs (quote units);
* total  = delay + impact + fees + gas.

For a buy a positive figure is a cost; for a sell too (the signs are flipped). The interval
VWAP is the market's volume-weighted price over the execution: from ``market_trades`` when
given, else from the tape journaled when the parent ended (:class:`IntervalMarket`, read by
:func:`agent.algos.market.market_trades`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from agent.algos.events import AlgoStarted, AlgoState, SliceFilled, SliceSent
from agent.algos.params import ZERO
from agent.model import Side

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    parent_id: str
    side: Side
    size: Decimal
    filled: Decimal
    arrival: Decimal | None
    average: Decimal | None  # quote paid (received) per base, venue fees included, gas not
    interval_vwap: Decimal | None
    delay_bps: Decimal | None
    impact_bps: Decimal | None
    fees_bps: Decimal | None
    gas_bps: Decimal | None
    slices: int
    start_ms: int
    end_ms: int

    @property
    def shortfall_bps(self) -> Decimal | None:
        parts = (self.delay_bps, self.impact_bps, self.fees_bps, self.gas_bps)
        if any(p is None for p in parts):
            return None
        return sum(parts, ZERO)  # type: ignore[arg-type]

    def lines(self) -> list[str]:
        def f(x: Decimal | None, q: str = "0.01") -> str:
            return "n/a" if x is None else f"{x.quantize(Decimal(q)):f}"

        return [
            f"parent {self.parent_id}: {self.side.value} {self.filled:f} of {self.size:f} "
            f"in {self.slices} slice(s)",
            f"arrival price      {f(self.arrival, '0.0001')}",
            f"interval VWAP      {f(self.interval_vwap, '0.0001')}",
            f"realized average   {f(self.average, '0.0001')}",
            f"shortfall          {f(self.shortfall_bps)} bps = delay {f(self.delay_bps)} + "
            f"impact {f(self.impact_bps)} + fees {f(self.fees_bps)} + gas {f(self.gas_bps)}",
        ]


def _slices(state: AlgoState) -> list[tuple[SliceSent, SliceFilled]]:
    return [(state.sent[i], d) for i, d in sorted(state.done.items()) if i in state.sent]


def interval_vwap(
    trades: Iterable[tuple[int, Decimal, Decimal]], start_ms: int, end_ms: int
) -> Decimal | None:
    """The market's VWAP over [start, end] from (timestamp, price, quantity) trades."""
    vol = notional = ZERO
    for ts, px, q in trades:
        if start_ms <= ts <= end_ms:
            vol += q
            notional += px * q
    return notional / vol if vol else None


def execution_report(
    state: AlgoState,
    started: AlgoStarted,
    market_trades: Sequence[tuple[int, Decimal, Decimal]] = (),
) -> ExecutionReport:
    p = state.params
    assert p is not None
    sign = Decimal(1) if p.side is Side.BUY else Decimal(-1)
    pairs = [(s, d) for s, d in _slices(state) if d.filled > 0]
    filled = sum((d.filled for _, d in pairs), ZERO)
    quote = sum((d.quote_amount for _, d in pairs), ZERO)
    fees = sum((d.fees for _, d in pairs), ZERO)
    gas = sum((d.gas for _, d in pairs), ZERO)
    arrival = started.arrival_price
    start = min((s.sent_ms for s, _ in pairs), default=p.start_ms)
    end = max((d.done_ms for _, d in pairs), default=start)
    delay = impact = None
    fees_bps = gas_bps = None
    if arrival and filled:
        base_notional = arrival * filled
        if all(s.mid is not None for s, _ in pairs):
            delay = sum((sign * (s.mid - arrival) * d.filled for s, d in pairs), ZERO)  # type: ignore[operator]
            impact = sum(
                (sign * ((d.quote_amount - sign * d.fees) - s.mid * d.filled) for s, d in pairs),  # type: ignore[operator]
                ZERO,
            )
            delay, impact = delay / base_notional * BPS, impact / base_notional * BPS
        fees_bps = fees / base_notional * BPS
        gas_bps = gas / base_notional * BPS
    vwap = interval_vwap(market_trades, start, end)
    if vwap is None and state.market is not None:  # the tape journaled when it ended
        vwap = state.market.vwap
    return ExecutionReport(
        started.parent_id, p.side, p.size, filled, arrival,
        quote / filled if filled else None, vwap,
        delay, impact, fees_bps, gas_bps, len(pairs), start, end,
    )  # fmt: skip


def plot(
    state: AlgoState,
    path: Path,
    prices: Sequence[tuple[int, Decimal]] = (),
    schedule: Sequence[tuple[int, Decimal]] = (),
) -> Path:
    """A PNG: the schedule's cumulative target, the cumulative fills and the market price."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = state.params
    assert p is not None
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    t0 = p.start_ms
    if schedule:
        cum, xs, ys = ZERO, [], []
        for t, q in sorted(schedule):
            cum += q
            xs.append((t - t0) / 60_000)
            ys.append(float(cum))
        ax.step(xs, ys, where="post", label="schedule", color="#888888")
    cum, xs, ys = ZERO, [0.0], [0.0]
    for _s, d in _slices(state):
        cum += d.filled
        xs.append((d.done_ms - t0) / 60_000)
        ys.append(float(cum))
    ax.step(xs, ys, where="post", label="filled", color="#1f77b4")
    ax.set_xlabel("minutes since start")
    ax.set_ylabel(f"cumulative {p.base}")
    if prices:
        ax2 = ax.twinx()
        ax2.plot(
            [(t - t0) / 60_000 for t, _ in prices],
            [float(x) for _, x in prices],
            color="#d62728",
            label="market price",
        )
        ax2.set_ylabel(f"{p.quote} per {p.base}")
    ax.set_title(f"{p.kind.value.upper()} {p.side.value} {p.size:f} {p.base}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
