"""The risk report behind ``agent risk report``: Greeks, VaR/ES, margin, liquidation prices,
as data (:func:`build_report`), as rich tables (:func:`render`) and as a payoff PNG
(:func:`plot_payoff`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from agent.model.instruments import OptionContract
from agent.risk.loader import PortfolioFile, load_history
from agent.risk.margin import LiquidationLevel, MarginReport, compute_margin, liquidation_prices
from agent.risk.portfolio import OPTION, Book, UnderlyingGreeks, aggregate_greeks
from agent.risk.var import (
    VaRResult,
    delta_gamma_var,
    historical_var,
    jump_diffusion_prices,
    monte_carlo_var,
)


@dataclass(frozen=True, slots=True)
class RiskReport:
    book: Book
    greeks: list[UnderlyingGreeks]
    var: list[VaRResult]
    history_source: str
    margin: MarginReport
    liquidation: list[LiquidationLevel]


def build_report(pf: PortfolioFile) -> RiskReport:
    book = Book.build(pf.portfolio, pf.market)
    st = pf.settings
    if st.history is not None:
        hist = load_history(st.history, book.underlyings)
        source = f"historical: {st.history.name} ({len(next(iter(hist.values())))} days)"
    else:
        # No data at hand: a seeded jump-diffusion series per underlying, ending at today's
        # spot, with the market's vol. Stated in the output so nobody mistakes it for data.
        hist = {}
        for i, u in enumerate(book.underlyings):
            path = jump_diffusion_prices(
                st.history_days, 1.0, float(book.vol[book.und == i].mean()), seed=st.seed + i
            )
            hist[u] = path / path[-1] * float(book.spots[i])
        source = f"historical: seeded jump-diffusion, {st.history_days} days (no history file)"
    var = [
        historical_var(book, hist, st.confidence, st.horizon_days),
        delta_gamma_var(book, st.confidence, st.horizon_days),
        monte_carlo_var(
            book, st.confidence, st.horizon_days, n_scenarios=st.mc_scenarios, seed=st.seed
        ),
    ]
    return RiskReport(
        book,
        aggregate_greeks(book),
        var,
        source,
        compute_margin(book),
        liquidation_prices(book),
    )


def _f(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def render(r: RiskReport, console: Console, quote: str) -> None:
    # One column per underlying, one row per Greek: fits a terminal for any sane book.
    t = Table(title=f"Greeks per underlying ({quote})", title_justify="left")
    t.add_column("greek")
    for g in r.greeks:
        t.add_column(g.underlying, justify="right")
    rows = [
        ("spot", lambda g: _f(g.spot)),
        ("delta (units)", lambda g: _f(g.delta, 4)),
        ("delta (value)", lambda g: _f(g.delta_value)),
        ("gamma (per unit)", lambda g: f"{g.gamma:.6g}"),
        ("gamma PnL, 1% move", lambda g: _f(g.gamma_value)),
        ("vega (per vol pt)", lambda g: _f(g.vega / 100)),
        ("theta (per day)", lambda g: _f(g.theta / 365)),
        ("rho (per 1%)", lambda g: _f(g.rho / 100)),
        ("vanna (per vol pt)", lambda g: _f(g.vanna / 100, 4)),
        ("volga (per vol pt^2)", lambda g: _f(g.volga / 1e4, 4)),
    ]
    for name, fmt in rows:
        t.add_row(name, *(fmt(g) for g in r.greeks))
    console.print(t)

    v0 = r.var[0]
    t = Table(
        title=f"VaR / ES ({v0.confidence:.1%}, {v0.horizon_days}-day, {quote})",
        title_justify="left",
        caption=r.history_source,
    )
    for c in ("method", "VaR", "ES", "scenarios"):
        t.add_column(c, justify="right" if c != "method" else "left")
    for v in r.var:
        t.add_row(v.method, _f(v.var), _f(v.es), str(v.n_scenarios or "closed form"))
    console.print(t)

    m = r.margin
    t = Table(title=f"Portfolio margin ({quote})", title_justify="left")
    for c in ("underlying", "scan loss", "worst spot", "worst vol", "contingency", "maintenance"):
        t.add_column(c, justify="right" if c != "underlying" else "left")
    for u in m.per_underlying:
        t.add_row(
            u.underlying,
            _f(u.scan_loss),
            f"{u.worst_spot_shock:+.1%}",
            f"{u.worst_vol_shock:+.0%}",
            _f(u.contingency),
            _f(u.maintenance),
        )
    console.print(t)
    ratio = "inf" if m.equity <= 0 else f"{m.margin_ratio:.1%}"
    console.print(
        f"equity {_f(m.equity)}  maintenance {_f(m.maintenance)}  initial {_f(m.initial)}  "
        f"margin ratio {ratio}  available {_f(m.available)}"
    )

    t = Table(title="Liquidation prices (others held fixed)", title_justify="left")
    for c in ("underlying", "spot", "down", "up", "status"):
        t.add_column(c, justify="right" if c != "underlying" else "left")
    for lv in r.liquidation:
        status = "[bold red]LIQUIDATABLE NOW[/]" if lv.now else "ok"
        t.add_row(lv.underlying, _f(lv.spot), _f(lv.down), _f(lv.up), status)
    console.print(t)


def plot_payoff(r: RiskReport, pf: PortfolioFile, out: Path) -> Path:
    """PnL against each underlying's spot: today (full revaluation) and at the first option
    expiry; vertical lines at today's spot and the liquidation prices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    book = r.book
    n = len(book.underlyings)
    fig, axes = plt.subplots(n, 1, figsize=(8, 3.6 * n), squeeze=False)
    expiries = sorted(
        p.instrument.expiry
        for p in pf.portfolio.positions
        if isinstance(p.instrument, OptionContract) and p.instrument.expiry > pf.market.as_of
    )
    for i, (u, ax) in enumerate(zip(book.underlyings, axes[:, 0], strict=True)):
        s0 = float(book.spots[i])
        sel = book.und == i
        sub = book.subset(sel)
        lv = r.liquidation[i]
        lo = min([0.5 * s0] + [0.9 * lv.down for _ in [0] if lv.down is not None])
        hi = max([1.5 * s0] + [1.1 * lv.up for _ in [0] if lv.up is not None])
        xs = np.linspace(lo, hi, 301)
        base = float(sub.qty @ sub.unit_values(np.full(sub.n, s0)))
        grid = xs[:, None] * np.ones(sub.n)
        today = sub.unit_values(grid) @ sub.qty - base
        ax.plot(xs, today, label="today", color="tab:blue")
        if expiries and (sub.kind == OPTION).any():
            dt = (expiries[0] - pf.market.as_of).total_seconds() / (365 * 86400)
            at = sub.unit_values(grid, 1.0, dt) @ sub.qty - base
            ax.plot(xs, at, label=f"at {expiries[0]:%d %b %Y}", color="tab:orange")
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(s0, color="black", ls=":", lw=1, label=f"spot {s0:,.0f}")
        for lp in (lv.down, lv.up):
            if lp is not None:
                ax.axvline(lp, color="red", ls="--", lw=1, label=f"liquidation {lp:,.0f}")
        ax.set_title(f"{u}: PnL vs spot ({pf.market.quote})")
        ax.set_xlabel(f"{u} spot")
        ax.set_ylabel("PnL")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
