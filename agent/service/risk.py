"""The fund's positions as the risk package sees them: every chain's Safe balances and its
OptionsMarket positions (longs, written shorts and the collateral held for them, read at one
pinned block), every CEX account's balances and derivatives (ccxt ``fetch_positions``:
options, perpetuals, futures) gathered into one Portfolio, priced by the manifests' oracles,
so margin, VaR/ES, Greeks and liquidation prices are those of the whole fund, not of one
order. Stablecoins count as cash (1 USD); a token without an oracle is listed, unpriced.
A CEX names the asset (ETH), a chain its wrapped token (WETH): one underlying (WETH).
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

from agent.model.instruments import OptionContract, Perpetual, Spot
from agent.model.positions import Portfolio, Position

_BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
STABLES = frozenset({"USDC", "USDT", "DAI"})
QUOTE = "USD"


async def balances(rt: Any, *, block: int | None = None) -> dict[str, Decimal]:
    """The Safe's token balances on one chain (exact, human units) and its ETH, at ``block``
    (default: the latest)."""
    p = rt.app.pipeline
    tag = "latest" if block is None else hex(block)
    tokens = list(p.manifest.tokens.values())
    data = "0x" + (_BALANCE_OF + encode(["address"], [p.safe])).hex()
    raw = await asyncio.gather(
        *(rt.app.rpc.call("eth_call", [{"to": t.address, "data": data}, tag]) for t in tokens)
    )
    out = {
        t.symbol: Decimal(decode(["uint256"], bytes.fromhex(r[2:]))[0]).scaleb(-t.decimals)
        for t, r in zip(tokens, raw, strict=True)
    }
    out["ETH"] = Decimal(int(await rt.app.rpc.call("eth_getBalance", [p.safe, tag]), 16)).scaleb(
        -18
    )
    return out


# a CEX names the asset, a chain its wrapped token: one exposure, priced by the token's oracle
UNDERLYING = {"ETH": "WETH", "BTC": "WBTC"}


async def fund_portfolio(
    chains: dict[str, Any], vols: dict[str, float], cex: dict[str, Any] | None = None
) -> tuple[Any, dict[str, Any]]:
    """(PortfolioFile for agent.risk, per-account positions: every chain's Safe with its
    OptionsMarket positions, every CEX account with its derivatives). Spot prices from the
    oracles of the chains (the first that prices an asset)."""
    from agent.execution.guarded import reference_prices
    from agent.risk.loader import PortfolioFile, ReportSettings
    from agent.risk.market import MarketSnapshot, UnderlyingMarket
    from agent.service.positions import cex_derivatives, option_holdings

    now = datetime.now(UTC)
    positions: list[Position] = []
    cash: dict[str, Decimal] = {}
    spots: dict[str, float] = {}
    per_chain: dict[str, Any] = {}
    oracles = {
        n: reference_prices(rt.app.rpc, rt.app.pipeline.manifest) for n, rt in chains.items()
    }

    async def priced(und: str, prices: list[Any]) -> bool:
        if und not in spots:
            for src in prices:  # a token one chain does not price: the next
                if (px := await src.usd(und)) is not None:
                    spots[und] = float(px)
                    break
        return und in spots

    async def hold(sym: str, amount: Decimal, label: str, prices: list[Any]) -> None:
        if amount == 0:
            return
        if sym in STABLES:
            cash[sym] = cash.get(sym, Decimal(0)) + amount
            return
        und = UNDERLYING.get(sym, sym)  # ETH and WETH are one exposure
        if await priced(und, prices):  # no oracle: not priced, still listed in the balances
            positions.append(Position(Spot(und, QUOTE), amount, label))

    for n, rt in chains.items():
        p = rt.app.pipeline
        prices = [oracles[n], *(o for m, o in oracles.items() if m != n)]
        # one block for the balances and the options: a fill in between cannot count twice
        block = await rt.app.rpc.block_number()
        bal = await balances(rt, block=block)
        opts = await option_holdings(rt.app.rpc, p.manifest, p.safe, n, block=block)
        per_chain[n] = {
            "account": p.safe, "block": block,
            "balances": {k: str(v) for k, v in bal.items()},
            "options": [h.to_json() for h in opts],
        }  # fmt: skip
        for sym, amount in bal.items():
            await hold(sym, amount, f"safe@{n}", prices)
        for h in opts:
            # the collateral the market holds for the Safe's shorts (and a settled series'
            # claim) is the fund's, in the collateral asset
            await hold(h.collateral_asset, h.collateral if not h.settled else h.claim,
                       f"options@{n}", prices)  # fmt: skip
            if h.settled or h.net == 0:
                continue
            und = UNDERLYING.get(h.option.underlying, h.option.underlying)
            if await priced(und, prices):
                o = h.option
                positions.append(
                    Position(OptionContract(und, QUOTE, o.strike, o.expiry, o.kind), h.net,
                             f"options@{n}")
                )  # fmt: skip
    for vid, v in (cex or {}).items():
        prices = list(oracles.values())
        bal = await v.balances()
        ders = await cex_derivatives(v)
        per_chain[vid] = {
            "account": vid,
            "balances": {k: str(x) for k, x in bal.items()},
            "derivatives": [d.to_json() for d in ders],
        }
        for sym, amount in bal.items():
            await hold(sym, amount, f"cex@{vid}", prices)
        for d in ders:
            i = d.instrument
            base = i.underlying if isinstance(i, OptionContract) else i.base
            und = UNDERLYING.get(base, base)
            if not await priced(und, prices):
                continue
            if isinstance(i, OptionContract):
                inst: Any = OptionContract(und, QUOTE, i.strike, i.expiry, i.kind)
                positions.append(Position(inst, d.size, f"cex@{vid}"))
            else:  # linear: PnL against the entry (the mark when the venue gives none)
                entry = d.entry_price or d.mark_price or Decimal(repr(spots[und]))
                positions.append(
                    Position(Perpetual(und, QUOTE, QUOTE), d.size, f"cex@{vid}", entry_price=entry)
                )
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
