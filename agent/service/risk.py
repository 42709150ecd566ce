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


# a CEX names the asset, a chain its wrapped token: one exposure, priced by the token's oracle
UNDERLYING = {"ETH": "WETH", "BTC": "WBTC"}


async def fund_portfolio(
    chains: dict[str, Any], vols: dict[str, float], cex: dict[str, Any] | None = None
) -> tuple[Any, dict[str, Any]]:
    """(PortfolioFile for agent.risk, per-account balances: every chain's Safe and every CEX
    account). Spot prices from the oracles of the chains (the first that prices an asset)."""
    from agent.execution.guarded import reference_prices
    from agent.risk.loader import PortfolioFile, ReportSettings
    from agent.risk.market import MarketSnapshot, UnderlyingMarket

    now = datetime.now(UTC)
    positions: list[Position] = []
    cash: dict[str, Decimal] = {}
    spots: dict[str, float] = {}
    per_chain: dict[str, Any] = {}
    oracles = {
        n: reference_prices(rt.app.rpc, rt.app.pipeline.manifest) for n, rt in chains.items()
    }
    # (key, account, position label, balances, oracles to ask in order): a Safe asks its own
    # chain's first; a CEX account every chain's, the first that prices the asset
    accounts = [
        (n, rt.app.pipeline.safe, f"safe@{n}", await balances(rt),
         [oracles[n], *(o for m, o in oracles.items() if m != n)])
        for n, rt in chains.items()
    ] + [
        (vid, vid, f"cex@{vid}", await v.balances(), list(oracles.values()))
        for vid, v in (cex or {}).items()
    ]  # fmt: skip
    for key, account, label, bal, prices in accounts:
        per_chain[key] = {"account": account, "balances": {k: str(v) for k, v in bal.items()}}
        for sym, amount in bal.items():
            if amount == 0:
                continue
            if sym in STABLES:
                cash[sym] = cash.get(sym, Decimal(0)) + amount
                continue
            und = UNDERLYING.get(sym, sym)  # ETH and WETH are one exposure
            if und not in spots:
                px = None
                for src in prices:  # a token one chain does not price: the next
                    if (px := await src.usd(und)) is not None:
                        break
                if px is None:
                    continue  # no oracle: not priced, still listed in the balances
                spots[und] = float(px)
            positions.append(Position(Spot(und, QUOTE), amount, label))
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


async def risk_report(
    chains: dict[str, Any], vols: dict[str, float], cex: dict[str, Any] | None = None
) -> dict[str, Any]:
    from agent.risk.report import build_report

    pf, per_chain = await fund_portfolio(chains, vols, cex)
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


async def margin_of(
    chains: dict[str, Any], vols: dict[str, float], cex: dict[str, Any] | None = None
) -> Any:
    """The whole fund's MarginReport (what the monitor loop watches); None for cash only."""
    from agent.risk.margin import compute_margin
    from agent.risk.portfolio import Book

    pf, _ = await fund_portfolio(chains, vols, cex)
    if not pf.market.underlyings:
        return None
    return await asyncio.to_thread(lambda: compute_margin(Book.build(pf.portfolio, pf.market)))
