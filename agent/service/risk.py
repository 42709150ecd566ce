"""The fund's positions as the risk package sees them: every chain's Safe balances gathered
into one Portfolio, priced by the manifests' oracles, so margin, VaR/ES, Greeks and
liquidation prices are those of the whole fund (every chain the daemon serves), not of one
order. Stablecoins count as cash (1 USD); a token without an oracle is listed, unpriced.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from agent.model.instruments import Spot
from agent.model.positions import Portfolio, Position

_BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
STABLES = frozenset({"USDC", "USDT", "DAI"})
QUOTE = "USD"


async def balances(rt: Any) -> dict[str, Decimal]:
    """The Safe's token balances on one chain (exact, human units) and its ETH."""
    p = rt.app.pipeline
    tokens = list(p.manifest.tokens.values())
    data = "0x" + (_BALANCE_OF + encode(["address"], [p.safe])).hex()
    raw = await asyncio.gather(
        *(rt.app.rpc.call("eth_call", [{"to": t.address, "data": data}, "latest"]) for t in tokens)
    )
    out = {
        t.symbol: Decimal(decode(["uint256"], bytes.fromhex(r[2:]))[0]).scaleb(-t.decimals)
        for t, r in zip(tokens, raw, strict=True)
    }
    out["ETH"] = Decimal(
        int(await rt.app.rpc.call("eth_getBalance", [p.safe, "latest"]), 16)
    ).scaleb(-18)
    return out


async def fund_portfolio(
    chains: dict[str, Any], vols: dict[str, float]
) -> tuple[Any, dict[str, Any]]:
    """(PortfolioFile for agent.risk, per-chain balances). Spot prices from the oracles."""
    from agent.execution.guarded import reference_prices
    from agent.risk.loader import PortfolioFile, ReportSettings
    from agent.risk.market import MarketSnapshot, UnderlyingMarket

    now = datetime.now(UTC)
    positions: list[Position] = []
    cash: dict[str, Decimal] = {}
    spots: dict[str, float] = {}
    per_chain: dict[str, Any] = {}
    for name, rt in chains.items():
        bal = await balances(rt)
        per_chain[name] = {
            "account": rt.app.pipeline.safe,
            "balances": {k: str(v) for k, v in bal.items()},
        }
        prices = reference_prices(rt.app.rpc, rt.app.pipeline.manifest)
        for sym, amount in bal.items():
            if amount == 0:
                continue
            if sym in STABLES:
                cash[sym] = cash.get(sym, Decimal(0)) + amount
                continue
            und = "WETH" if sym == "ETH" else sym  # ETH and WETH are one exposure
            if und not in spots:
                px = await prices.usd(und)
                if px is None:
                    continue  # no oracle: not priced, still listed in the balances
                spots[und] = float(px)
            positions.append(Position(Spot(und, QUOTE), amount, f"safe@{name}"))
    default = vols.get("*", 0.8)
    market = MarketSnapshot(
        now,
        {u: UnderlyingMarket(s, vols.get(u, default), now) for u, s in spots.items()},
        quote=QUOTE,
    )
    portfolio = Portfolio(tuple(positions), tuple(sorted(cash.items())))
    settings = ReportSettings(mc_scenarios=2000)
    return PortfolioFile(portfolio, market, settings), per_chain


def _plain(x: Any) -> Any:
    """JSON-able figures: floats rounded, inf/nan as null, arrays dropped."""
    if isinstance(x, float):
        return None if not math.isfinite(x) else round(x, 6)
    if dataclasses.is_dataclass(x):
        return {
            f.name: _plain(getattr(x, f.name))
            for f in dataclasses.fields(x)
            if f.name not in ("pnl", "book")
        }
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


async def risk_report(chains: dict[str, Any], vols: dict[str, float]) -> dict[str, Any]:
    from agent.risk.report import build_report

    pf, per_chain = await fund_portfolio(chains, vols)
    if not pf.market.underlyings:  # cash only: nothing moves, nothing to model
        cash = float(sum((a for _, a in pf.portfolio.collateral), Decimal(0)))
        return {"positions": per_chain, "quote": QUOTE, "equity": cash, "greeks": [],
                "var": [], "margin": None, "liquidation": []}  # fmt: skip
    rep = await asyncio.to_thread(build_report, pf)  # numpy work off the event loop
    margin = _plain(rep.margin)
    margin["margin_ratio"] = _plain(rep.margin.margin_ratio)
    return {
        "positions": per_chain,
        "quote": QUOTE,
        "equity": _plain(rep.book.equity()),
        "greeks": _plain(rep.greeks),
        "var": _plain(rep.var),
        "history": rep.history_source,
        "margin": margin,
        "liquidation": _plain(rep.liquidation),
    }


async def margin_of(chains: dict[str, Any], vols: dict[str, float]) -> Any:
    """The whole fund's MarginReport (what the monitor loop watches); None for cash only."""
    from agent.risk.margin import compute_margin
    from agent.risk.portfolio import Book

    pf, _ = await fund_portfolio(chains, vols)
    if not pf.market.underlyings:
        return None
    return await asyncio.to_thread(lambda: compute_margin(Book.build(pf.portfolio, pf.market)))
