"""Market data for POV, Sniper and VWAP from the venues themselves: the exchange's public
trade tape through ccxt (Binance ``aggTrades``; our own fills, known from ``myTrades``,
subtracted trade by trade), the pools' on-chain ``Swap`` logs (``eth_getLogs``; swaps paying
our own Safe left out) and, for Sniper, what the router's curves can fill at or better than
the limit right now.

A source that fails to answer leaves ``updated_ms`` where it was: the runner sees the data
age and pauses with ``ALGO_MARKET_DATA_STALE`` instead of guessing from a partial picture.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agent.algos.params import ZERO, AlgoParams
from agent.algos.runner import MarketSnapshot
from agent.errors import NoRouteError
from agent.model import Spot

# keccak256 of the events' signatures
V2_SWAP = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
V3_SWAP = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"


@dataclass(frozen=True, slots=True)
class PoolRef:
    """One pool whose Swap logs count: ``v3`` (else V2) and whether the base is token0."""

    address: str
    v3: bool
    base_is_token0: bool
    base_decimals: int
    quote_decimals: int = 18


def pools_of(manifest: Any, base: str, quote: str) -> list[PoolRef]:
    """The manifest's pools of the pair (keys ``v2:B/Q``, ``v3:B/Q/fee``), token order from the
    addresses (Uniswap sorts token0 < token1)."""
    b, q = manifest.token(base), manifest.token(quote)
    out = []
    for key, addr in sorted(manifest.pools.items()):
        kind, _, rest = key.partition(":")
        pair = rest.split("/")[:2]
        if set(pair) != {base, quote} or kind not in ("v2", "v3"):
            continue
        base_first = int(b.address, 16) < int(q.address, 16)
        out.append(PoolRef(addr, kind == "v3", base_first, b.decimals, q.decimals))
    return out


def _word(data: str, i: int, signed: bool = False) -> int:
    v = int(data[2 + 64 * i : 2 + 64 * (i + 1)], 16)
    return v - (1 << 256) if signed and v >> 255 else v


def swap_base_volume(log: dict[str, Any], pool: PoolRef) -> Decimal:
    """The base quantity one Swap log moved (human units)."""
    d = log["data"]
    if pool.v3:
        raw = abs(_word(d, 0 if pool.base_is_token0 else 1, signed=True))
    else:  # amount0In, amount1In, amount0Out, amount1Out: one side moves the base
        a0i, a1i, a0o, a1o = (_word(d, i) for i in range(4))
        raw = a0i + a0o if pool.base_is_token0 else a1i + a1o
    return Decimal(raw).scaleb(-pool.base_decimals)


def swap_trade(log: dict[str, Any], pool: PoolRef) -> tuple[Decimal, Decimal]:
    """(base, quote) one Swap log moved (human units): the trade's size and its notional."""
    d = log["data"]
    if pool.v3:
        a0, a1 = abs(_word(d, 0, signed=True)), abs(_word(d, 1, signed=True))
    else:  # amount0In, amount1In, amount0Out, amount1Out
        a0i, a1i, a0o, a1o = (_word(d, i) for i in range(4))
        a0, a1 = a0i + a0o, a1i + a1o
    b, q = (a0, a1) if pool.base_is_token0 else (a1, a0)
    return Decimal(b).scaleb(-pool.base_decimals), Decimal(q).scaleb(-pool.quote_decimals)


def _topic_address(topic: str) -> str:
    return "0x" + topic[-40:].lower()


@dataclass(slots=True)
class VenueMarketData:
    """:class:`agent.algos.runner.MarketData` over real venues.

    ``cex``: (ccxt exchange, symbol) pairs read through ``fetch_trades`` (aggTrades) and
    ``fetch_my_trades``; ``rpc`` + ``pools``: the chain's Swap logs; ``own``: our addresses
    (the Safe) whose swaps are ours; ``routing``: an agent.execution.route.OrderRouting for
    Sniper's ``available_at_limit``."""

    cex: Sequence[tuple[Any, str]] = ()
    rpc: Any = None
    pools: Sequence[PoolRef] = ()
    own: frozenset[str] = frozenset()
    routing: Any = None
    base_decimals: int = 18
    _others: dict[str, tuple[int, Decimal]] = field(default_factory=dict)  # key -> (ts, qty)
    _from_block: int | None = None
    _block_ts: dict[int, int] = field(default_factory=dict)
    _updated_ms: int = 0

    async def _cex(self, since_ms: int) -> None:
        for ex, symbol in self.cex:
            trades = await ex.fetch_trades(symbol, since=since_ms, limit=1000)
            mine = await ex.fetch_my_trades(symbol, since=since_ms, limit=1000)
            my_qty: dict[int, Decimal] = {}
            for t in mine:
                tid = int(t["id"])
                my_qty[tid] = my_qty.get(tid, ZERO) + Decimal(str(t["amount"]))
            for a in trades:
                info = a.get("info") or {}
                first, last = int(info.get("f", a["id"])), int(info.get("l", a["id"]))
                ours = sum((q for tid, q in my_qty.items() if first <= tid <= last), ZERO)
                qty = Decimal(str(a["amount"])) - ours
                if qty > 0:
                    self._others[f"cex:{ex.id}:{a['id']}"] = (int(a["timestamp"]), qty)

    async def _chain(self, since_ms: int) -> None:
        if self.rpc is None or not self.pools:
            return
        head = await self.rpc.block_number()
        if self._from_block is None:
            self._from_block = head  # the tape starts when the algorithm does
        by_addr = {p.address.lower(): p for p in self.pools}
        logs = await self.rpc.call(
            "eth_getLogs",
            [{"fromBlock": hex(self._from_block), "toBlock": hex(head),
              "address": list(by_addr), "topics": [[V2_SWAP, V3_SWAP]]}],
        )  # fmt: skip
        for log in logs:
            pool = by_addr.get(log["address"].lower())
            if pool is None or log.get("removed"):
                continue
            # V2: Swap(sender, ..., to) topics[2] = to; V3: Swap(sender, recipient, ...)
            if len(log["topics"]) > 2 and _topic_address(log["topics"][2]) in self.own:
                continue
            n = int(log["blockNumber"], 16)
            if n not in self._block_ts:
                blk = await self.rpc.get_block(hex(n))
                self._block_ts[n] = int(blk["timestamp"], 16) * 1000
            key = f"chain:{log['transactionHash']}:{int(log['logIndex'], 16)}"
            self._others[key] = (self._block_ts[n], swap_base_volume(log, pool))

    async def _available(self, p: AlgoParams, left: Decimal) -> Decimal:
        if self.routing is None or p.limit_price is None or left <= 0:
            return ZERO
        units = int(left.scaleb(self.base_decimals))
        try:
            rep = await self.routing.plan(
                Spot(p.base, p.quote), p.side, units, parent_id="algo-sniper-probe",
                limit=p.limit_price,
            )  # fmt: skip
        except NoRouteError:  # the venues answered: nothing within the limit (fresh news)
            return ZERO
        return Decimal(rep.plan.filled).scaleb(-self.base_decimals)

    async def snapshot(self, p: AlgoParams, since_ms: int, interval_ms: int) -> MarketSnapshot:
        now = time.time_ns() // 1_000_000
        available = ZERO
        try:
            await self._cex(since_ms)
            await self._chain(since_ms)
            available = await self._available(p, p.size)
            self._updated_ms = now
        except Exception:  # ccxt NetworkError, RPC errors, AgentError: all mean no fresh data
            pass  # keep the last update time: the runner pauses once the data is too old
        total = sum((q for ts, q in self._others.values() if ts >= since_ms), ZERO)
        last = sum((q for ts, q in self._others.values() if ts >= now - interval_ms), ZERO)
        return MarketSnapshot(total, last, self._updated_ms, available)


async def history_profile(
    p: AlgoParams,
    cex: Sequence[tuple[Any, str]] = (),
    *,
    rpc: Any = None,
    pools: Sequence[PoolRef] = (),
    lookback_ms: int = 86_400_000,
) -> tuple[Decimal, ...]:
    """VWAP's volume profile from history: the exchange's 1-minute klines and the pools' Swap
    events over ``lookback_ms``, bucketed by :func:`agent.algos.schedule.volume_profile`."""
    from agent.algos.schedule import volume_profile

    since = p.start_ms - lookback_ms
    hist: list[tuple[int, Decimal]] = []
    for ex, symbol in cex:
        for row in await ex.fetch_ohlcv(symbol, "1m", since=since, limit=1000):
            if row[5]:
                hist.append((int(row[0]), Decimal(str(row[5]))))
    if rpc is not None and pools:
        md = VenueMarketData(rpc=rpc, pools=pools)
        head = await rpc.block_number()
        md._from_block = 0 if head < 10_000 else head - 10_000
        await md._chain(since)
        hist += [(ts, q) for ts, q in md._others.values() if ts >= since]
    return volume_profile(sorted(hist), p)


async def _block_at(rpc: Any, ts_ms: int, head: int) -> int:
    """The first block at or after ``ts_ms`` (binary search over block timestamps)."""
    lo, hi = 0, head
    while lo < hi:
        mid = (lo + hi) // 2
        blk = await rpc.get_block(hex(mid))
        if int(blk["timestamp"], 16) * 1000 < ts_ms:
            lo = mid + 1
        else:
            hi = mid
    return lo


async def market_trades(
    start_ms: int,
    end_ms: int,
    cex: Sequence[tuple[Any, str]] = (),
    *,
    rpc: Any = None,
    pools: Sequence[PoolRef] = (),
    blocks: tuple[int, int] | None = None,
) -> list[tuple[int, Decimal, Decimal, str]]:
    """Every trade the market made in [start, end] as (ms, price, base quantity, source): the
    exchanges' public trades (ccxt ``fetch_trades``, ours included: the interval VWAP is the
    whole market's) and the pools' Swap events (``eth_getLogs``). ``blocks``: the interval's
    first and last block when known (those of our own on-chain fills: a devnet's clock may
    differ from ours); else the blocks whose time falls in the interval on the chain's clock
    (a block's time rounded down to the second, so the interval starts at its second)."""
    out: list[tuple[int, Decimal, Decimal, str]] = []
    for ex, symbol in cex:
        if symbol not in await ex.load_markets():  # it does not trade the pair (a derivatives
            continue  # desk): not part of this market, and no reason to lose the others' tape
        since = start_ms
        while True:
            page = await ex.fetch_trades(symbol, since=since, limit=1000)
            for t in page:
                ts = int(t["timestamp"])
                if start_ms <= ts <= end_ms:
                    out.append((ts, Decimal(str(t["price"])), Decimal(str(t["amount"])), ex.id))
            if len(page) < 1000 or int(page[-1]["timestamp"]) > end_ms:
                break
            since = int(page[-1]["timestamp"]) + 1
    if rpc is not None and pools:
        head = await rpc.block_number()
        # a devnet's clock may run ahead of ours (time travelled): block times are read on
        # the chain's clock, shifted by how far its latest block is ahead of now
        latest = int((await rpc.get_block(hex(head)))["timestamp"], 16) * 1000
        off = max(0, latest - time.time_ns() // 1_000_000)
        start_c = start_ms + off
        if blocks is not None:
            first, head = blocks
        else:
            first = await _block_at(rpc, start_c - start_c % 1000, head)
        by_addr = {p.address.lower(): p for p in pools}
        logs = await rpc.call(
            "eth_getLogs",
            [{"fromBlock": hex(first), "toBlock": hex(head), "address": list(by_addr),
              "topics": [[V2_SWAP, V3_SWAP]]}],
        )  # fmt: skip
        stamps: dict[int, int] = {}
        for log in logs:
            pool = by_addr.get(log["address"].lower())
            if pool is None or log.get("removed"):
                continue
            n = int(log["blockNumber"], 16)
            if n not in stamps:
                stamps[n] = int((await rpc.get_block(hex(n)))["timestamp"], 16) * 1000 - off
            if stamps[n] > end_ms and blocks is None:
                continue
            base, quote = swap_trade(log, pool)
            if base > 0:
                ts = min(max(stamps[n], start_ms), end_ms)
                out.append((ts, quote / base, base, f"pool:{pool.address}"))
    return sorted(out)
