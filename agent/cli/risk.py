"""`agent risk report PORTFOLIO_FILE`: Greeks, VaR/ES, margin, liquidation, payoff PNG."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.cli.common import console, run

app = typer.Typer(help="Risk: Greeks, VaR/ES, portfolio margin, liquidation.", no_args_is_help=True)


@app.command()
def report(
    portfolio_file: Path = typer.Argument(..., help="Portfolio file (.toml or .json)."),
    png: Path = typer.Option(
        None, "--png", help="Payoff diagram path [default: <file>-payoff.png]."
    ),
    confidence: float = typer.Option(None, help="VaR confidence, e.g. 0.99 (overrides the file)."),
    horizon: int = typer.Option(None, "--horizon-days", help="VaR horizon in days."),
    scenarios: int = typer.Option(None, help="Monte Carlo scenarios."),
) -> None:
    """Print Greeks, VaR/ES (historical, delta-gamma, Monte Carlo), margin and liquidation
    prices, and write a payoff diagram PNG."""
    import dataclasses

    from agent.risk.loader import load_portfolio
    from agent.risk.report import build_report, plot_payoff, render

    def go() -> None:
        pf = load_portfolio(portfolio_file)
        overrides = {
            k: v
            for k, v in (
                ("confidence", confidence),
                ("horizon_days", horizon),
                ("mc_scenarios", scenarios),
            )
            if v is not None
        }
        if overrides:
            pf = dataclasses.replace(pf, settings=dataclasses.replace(pf.settings, **overrides))
        rep = build_report(pf)
        render(rep, console, pf.market.quote)
        out = png or portfolio_file.with_name(f"{portfolio_file.stem}-payoff.png")
        plot_payoff(rep, pf, out)
        console.print(f"payoff diagram: {out}")

    run(go)
