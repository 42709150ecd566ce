"""Derivative positions of the fund, for the daemon's risk portfolio (agent.service.risk).

* On chain: the Safe's OptionsMarket positions. A long is the ERC-1155 balance of a series;
  a short is the market's ``shortOf`` with the collateral it holds for the writer
  (``collateralOf``). The series the Safe ever touched are found from the market's logs
  (``Written`` with the Safe as writer, ERC-1155 transfers to the Safe), then every figure is
  read at ONE pinned block, so a fill between two reads cannot show half a trade. Terms are
  decoded from the market's own ``series(id)``: underlying, strike, expiry, call/put.
* On a CEX: ``fetch_positions`` of ccxt (unmodified) for every venue whose loaded markets
  list derivatives (Deribit's options and perpetuals/futures, Binance's USD-M perps); a spot-only
  account (the Binance simulator's) has none to ask for.

Sizes are exact Decimals in units of the underlying (options: per whole unit, multiplier 1).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from agent.errors import ValidationError
from agent.model.enums import OptionKind
from agent.model.instruments import Instrument, OptionContract, Perpetual
from agent.venues.options.series import SeriesTerms, payoff

_TRANSFER_SINGLE = (
    "0x" + keccak(text="TransferSingle(address,address,address,uint256,uint256)").hex()
)
_TRANSFER_BATCH = (
    "0x" + keccak(text="TransferBatch(address,address,address,uint256[],uint256[])").hex()
)
DERIVATIVE_TYPES = frozenset({"swap", "future", "option"})
REORG_BLOCKS = 64  # logs of the last blocks are read again: a reorg may have replaced them
# (rpc url, market, safe) -> (last block scanned, series ids seen): each pass reads the logs
# of the new blocks only. An id stays once seen (its position is read, and dropped when 0).
_SEEN: dict[tuple[str, str, str], tuple[int, frozenset[int]]] = {}


@dataclass(frozen=True, slots=True)
class OptionHolding:
    """One series the Safe holds long and/or short, read at ``block``."""

    chain: str
    series_id: int
    option: OptionContract  # underlying/quote by manifest symbol, strike in quote units
    long: Decimal  # underlying units (ERC-1155 balance / unit)
    short: Decimal  # underlying units written
    collateral: Decimal  # what the market holds for the Safe's short, in collateral_asset
    collateral_asset: str
    settled: bool
    settlement_price: Decimal | None
    block: int
    claim: Decimal = Decimal(0)  # settled: what exercise + redeem would pay, in collateral_asset

    @property
    def net(self) -> Decimal:
        return self.long - self.short

    def to_json(self) -> dict[str, Any]:
        o = self.option
        return {
            "chain": self.chain, "series_id": hex(self.series_id), "symbol": o.symbol,
            "underlying": o.underlying, "quote": o.quote, "strike": str(o.strike),
            "expiry": o.expiry.isoformat(), "kind": o.kind.value, "long": str(self.long),
            "short": str(self.short), "net": str(self.net),
            "collateral": str(self.collateral), "collateral_asset": self.collateral_asset,
            "settled": self.settled,
            "settlement_price": None if self.settlement_price is None else str(self.settlement_price),
            "claim": str(self.claim), "block": self.block,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class CexDerivative:
    """One derivative position of a CEX account as ccxt reports it."""

    venue: str
    symbol: str  # ccxt unified symbol
    instrument: Instrument  # Perpetual (perps and dated futures) or OptionContract
    size: Decimal  # signed, underlying units (contracts * contract size)
    entry_price: Decimal | None
    mark_price: Decimal | None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "venue": self.venue, "symbol": self.symbol, "size": str(self.size),
            "side": "long" if self.size > 0 else "short",
            "entry_price": None if self.entry_price is None else str(self.entry_price),
            "mark_price": None if self.mark_price is None else str(self.mark_price),
        }  # fmt: skip
        i = self.instrument
        if isinstance(i, OptionContract):
            d |= {"type": "option", "underlying": i.underlying, "strike": str(i.strike),
                  "expiry": i.expiry.isoformat(), "kind": i.kind.value}  # fmt: skip
        else:
            d |= {"type": "perp", "underlying": i.base, "settle": i.settle}
        return d


def _topic_address(a: str) -> str:
    return "0x" + "0" * 24 + a.lower()[2:]


async def _series_touched(rpc: Any, market: str, safe: str, frm: int, block: int) -> list[int]:
    """Ids of the series the Safe wrote or received longs of, up to ``block``."""
    from agent.venues.options.settlement import market_abi

    abi = market_abi()
    span = {"address": market, "fromBlock": hex(frm), "toBlock": hex(block)}
    who = _topic_address(safe)
    written, single, batch = await asyncio.gather(
        rpc.call("eth_getLogs", [{**span, "topics": [abi.topic("Written"), None, who]}]),
        rpc.call("eth_getLogs", [{**span, "topics": [_TRANSFER_SINGLE, None, None, who]}]),
        rpc.call("eth_getLogs", [{**span, "topics": [_TRANSFER_BATCH, None, None, who]}]),
    )
    ids: set[int] = {int(lg["topics"][1], 16) for lg in written}
    for lg in single:
        ids.add(int(lg["data"][2:66], 16))  # data: (id, value)
    for lg in batch:
        batch_ids, _ = decode(["uint256[]", "uint256[]"], bytes.fromhex(lg["data"][2:]))
        ids.update(batch_ids)
    return sorted(ids)


async def option_holdings(
    rpc: Any, manifest: Any, safe: str, chain: str, *, block: int | None = None
) -> list[OptionHolding]:
    """The Safe's positions on the chain's OptionsMarket at ``block`` (default: the latest,
    pinned once for every read). A manifest without the market: none."""
    from agent.venues.options.settlement import market_abi

    market = manifest.contracts.get("OptionsMarket")
    if not market:
        return []
    abi = market_abi()
    safe = to_checksum_address(safe)
    block = await rpc.block_number() if block is None else block
    tag = hex(block)

    async def call(data: bytes) -> str:
        return await rpc.call("eth_call", [{"to": market, "data": "0x" + data.hex()}, tag])

    by_address = {t.address.lower(): t for t in manifest.tokens.values()}
    key = (str(getattr(rpc, "url", id(rpc))), market.lower(), safe.lower())
    scanned, ids = _SEEN.get(key, (manifest.block - 1, frozenset()))
    if block < scanned:  # the chain went back (a devnet revert, a deep reorg): from the start
        scanned, ids = manifest.block - 1, frozenset()
    frm = max(manifest.block, scanned - REORG_BLOCKS)
    ids = ids | set(await _series_touched(rpc, market, safe, frm, block))
    _SEEN[key] = (block, ids)
    out = []
    for sid in sorted(ids):
        raw, long_, short, coll = await asyncio.gather(
            call(abi.encode("series", sid)),
            call(abi.encode("balanceOf", safe, sid)),
            call(abi.encode("shortOf", sid, safe)),
            call(abi.encode("collateralOf", sid, safe)),
        )
        (u, q, c, feed, strike, cap, expiry, is_call), unit, price, settled, _ = abi.decode_output(
            "series", raw
        )
        long_u = abi.decode_output("balanceOf", long_)
        short_u = abi.decode_output("shortOf", short)
        coll_u = abi.decode_output("collateralOf", coll)
        if not (long_u or short_u or coll_u):
            continue  # closed, exercised or redeemed: nothing left
        und, quote, col = (by_address.get(a.lower()) for a in (u, q, c))
        if und is None or quote is None or col is None:
            raise ValidationError(
                f"OptionsMarket series {sid:#x}", f"its tokens ({u}, {q}) are not in the "
                f"manifest of {chain}", "add them to the manifest's tokens",
            )  # fmt: skip
        terms = SeriesTerms(
            u, q, c, feed, strike, cap, expiry, is_call, und.decimals, quote.decimals
        )
        claim = 0
        if settled:  # exact, as the contract pays: the longs' payoff, the collateral's rest
            claim = payoff(terms, price, long_u, round_up=False)
            claim += coll_u - payoff(terms, price, short_u, round_up=True) if short_u else 0
        option = OptionContract(
            und.symbol, quote.symbol, Decimal(strike).scaleb(-quote.decimals),
            datetime.fromtimestamp(expiry, UTC), OptionKind.CALL if is_call else OptionKind.PUT,
        )  # fmt: skip
        out.append(
            OptionHolding(
                chain, sid, option, Decimal(long_u) / unit, Decimal(short_u) / unit,
                Decimal(coll_u).scaleb(-col.decimals), col.symbol, bool(settled),
                Decimal(price).scaleb(-quote.decimals) if settled else None, block,
                Decimal(claim).scaleb(-col.decimals),
            )
        )  # fmt: skip
    return out


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _instrument_of(market: dict[str, Any]) -> Instrument:
    base, settle = str(market["base"]), str(market.get("settle") or market["quote"])
    if market.get("type") == "option" or market.get("option"):
        kind = OptionKind(str(market.get("optionType", "")).lower())
        expiry = datetime.fromtimestamp(int(market["expiry"]) / 1000, UTC)
        return OptionContract(
            base, str(market["quote"]), Decimal(str(market["strike"])), expiry, kind
        )
    # perpetuals and dated futures alike are linear exposure with an entry price here (a dated
    # future's basis is not modelled)
    return Perpetual(base, str(market["quote"]), settle)


def _base_size(
    exchange_id: str, p: dict[str, Any], market: dict[str, Any], contracts: Decimal
) -> Decimal:
    """|position| in units of the underlying. ccxt's ``contracts * contractSize`` except on
    Deribit, whose ``size`` ccxt passes through as ``contracts``: options are sized in the
    underlying there and futures by ``size_currency`` (inverse USD contracts are not
    modelled)."""
    if exchange_id == "deribit":
        info = p.get("info") or {}
        raw = info.get("size") if market.get("type") == "option" else info.get("size_currency")
        return abs(Decimal(str(raw if raw is not None else contracts)))
    return abs(contracts) * (_dec(p.get("contractSize")) or Decimal(1))


def has_derivatives(venue: Any) -> bool:
    markets = getattr(venue.ex, "markets", None) or {}
    return bool(venue.ex.has.get("fetchPositions")) and any(
        m.get("type") in DERIVATIVE_TYPES for m in markets.values()
    )


async def cex_derivatives(venue: Any) -> list[CexDerivative]:
    """The account's open derivative positions through ccxt's ``fetch_positions``."""
    if not has_derivatives(venue):
        return []
    from agent.venues.cex.ratelimit import Priority

    raw = await venue._call(Priority.BACKGROUND, venue.ex.fetch_positions)
    out = []
    for p in raw:
        sym = p.get("symbol")
        market = venue.ex.markets.get(sym)
        contracts = _dec(p.get("contracts"))
        if market is None or market.get("type") not in DERIVATIVE_TYPES or not contracts:
            continue
        size = _base_size(venue.ex.id, p, market, contracts)
        if p.get("side") == "short" or contracts < 0:
            size = -size
        entry = _dec(p.get("entryPrice"))
        out.append(
            CexDerivative(
                venue.id, sym, _instrument_of(market), size,
                entry if entry and entry > 0 else None, _dec(p.get("markPrice")),
            )
        )  # fmt: skip
    return out
