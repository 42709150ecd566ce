"""Plan a route from a request: connect, gather every leg at its pin, plan, compare.

The one entry the CLI (``agent route``) and execution call; nothing here signs or sends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.errors import AgentError, ValidationError
from agent.journal.codec import to_jsonable
from agent.model import Side, Spot, from_base_units
from agent.routing import router
from agent.routing.curves import Leg
from agent.routing.plan import RoutePlan
from agent.routing.sources import CexSource, ChainSource, gather
from agent.venues.bridge.cost import DEPOSIT_GAS, BridgeCostModel


@dataclass(frozen=True)
class RouteRequest:
    instrument: Spot
    side: Side
    size: Decimal  # human units of the base asset
    l1_rpc: str
    l1_manifest: Path
    limit: Decimal | None = None
    venues: tuple[str, ...] = ()
    l2_rpc: str | None = None
    l2_manifest: Path | None = None
    time_bps_per_min: Decimal = Decimal(0)
    bridge_fee_bps: int | None = None
    cex: tuple[tuple[str, str], ...] = ()  # (exchange id, simulator URL)
    cex_symbol: str | None = None
    max_book_age_ms: int = 5_000
    parent_id: str = "route"
    l2_symbols: tuple[tuple[str, str], ...] = ()  # (L1 symbol, the L2 token the bridge delivers)


@dataclass(frozen=True)
class RouteReport:
    plan: RoutePlan
    base_decimals: int
    quote_decimals: int
    grid_total: int | None  # the 5%-grid split's all-in total on the same legs

    def base_human(self, units: int) -> Decimal:
        return from_base_units(units, self.base_decimals).normalize()

    def quote_human(self, units: int) -> Decimal:
        return from_base_units(units, self.quote_decimals)

    @property
    def size_human(self) -> Decimal:
        return self.base_human(self.plan.size)

    def _avg(self, total: int, base_units: int) -> Decimal:
        return router.human_price(total, base_units, self.base_decimals, self.quote_decimals)

    @property
    def plan_avg(self) -> Decimal:
        return self._avg(self.plan.total_quote, self.plan.filled)

    @property
    def price_avg(self) -> Decimal:
        """The venues' average price (their fees in) without the fixed costs: what a price
        probe reads, where one leg's gas spread over a tiny size would be most of the price."""
        return self._avg(sum(c.quote_amount for c in self.plan.children), self.plan.filled)

    @property
    def single_avg(self) -> Decimal | None:
        bs = self.plan.best_single
        return None if bs is None else self._avg(bs[1], self.plan.size)

    @property
    def grid_avg(self) -> Decimal | None:
        return None if self.grid_total is None else self._avg(self.grid_total, self.plan.filled)

    def _bp_vs(self, other_total: int, base_units: int) -> Decimal:
        # compare on the same filled amount: per-unit all-in prices
        mine = Decimal(self.plan.total_quote) / Decimal(max(1, self.plan.filled))
        theirs = Decimal(other_total) / Decimal(base_units)
        gain = theirs - mine if self.plan.side is Side.BUY else mine - theirs
        return (gain / theirs * 10_000).quantize(Decimal("0.01")) if theirs else Decimal(0)

    @property
    def vs_single(self) -> Decimal | None:
        bs = self.plan.best_single
        return None if bs is None else self._bp_vs(bs[1], self.plan.size)

    @property
    def vs_grid(self) -> Decimal | None:
        return None if self.grid_total is None else self._bp_vs(self.grid_total, self.plan.filled)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": to_jsonable(self.plan),
            "average_price": str(self.plan_avg),
            "best_single_average": None if self.single_avg is None else str(self.single_avg),
            "vs_best_single_bp": None if self.vs_single is None else str(self.vs_single),
            "grid_total": self.grid_total,
            "grid_average": None if self.grid_avg is None else str(self.grid_avg),
            "vs_grid_bp": None if self.vs_grid is None else str(self.vs_grid),
        }


BRIDGED_SUFFIX = ".B"  # the dev world's names for bridged tokens on the L2 (USDC -> USDC.B)


def l2_instrument(inst: Spot, l2: Manifest, mapping: Sequence[tuple[str, str]] = ()) -> Spot:
    """The pair to read on the L2: what the bridge delivers there. An explicit mapping wins;
    else ``SYMBOL.B`` when the L2 manifest lists it; else the same symbol."""
    names = dict(mapping)

    def on_l2(sym: str) -> str:
        if sym in names:
            return names[sym]
        return sym + BRIDGED_SUFFIX if sym + BRIDGED_SUFFIX in l2.tokens else sym

    return Spot(on_l2(inst.base), on_l2(inst.quote))


async def _bridge_fee(rpc: RpcClient, m: Manifest) -> int:
    from eth_utils import function_signature_to_4byte_selector as selector

    from agent.bridge.deploy import ESCROW_NAME

    raw = await rpc.call(
        "eth_call",
        [{"to": m.address(ESCROW_NAME), "data": "0x" + selector("feeBps()").hex()}, "latest"],
    )
    return int(raw, 16)


def report_of(
    legs: Sequence[Leg],
    side: Side,
    size: int,
    *,
    parent_id: str,
    base: str,
    quote: str,
    base_decimals: int,
    quote_decimals: int,
    limit: Decimal | None,
    excluded: Sequence[tuple[str, str]],
) -> RouteReport:
    plan = router.plan(
        legs, side, size, parent_id=parent_id, base=base, quote=quote,
        base_decimals=base_decimals, quote_decimals=quote_decimals,
        limit_price=limit, excluded=excluded,
    )  # fmt: skip
    grid = router.grid_split(legs, side, plan.filled) if plan.filled else None
    return RouteReport(plan, base_decimals, quote_decimals, None if grid is None else grid.total)


async def plan_route(req: RouteRequest) -> RouteReport:
    m1 = Manifest.load(req.l1_manifest)
    inst = req.instrument
    bd, qd = m1.token(inst.base).decimals, m1.token(inst.quote).decimals
    size = m1.asset(inst.base).to_base(req.size)
    if size <= 0:
        raise ValidationError("--size", f"{req.size} is below one base unit of {inst.base}")
    async with contextlib.AsyncExitStack() as stack:
        r1 = await stack.enter_async_context(RpcClient(req.l1_rpc, name="l1"))
        chains = [ChainSource(r1, m1)]
        if req.l2_rpc and req.l2_manifest:
            m2 = Manifest.load(req.l2_manifest)
            r2 = await stack.enter_async_context(RpcClient(req.l2_rpc, name="l2"))
            fee_bps = req.bridge_fee_bps
            if fee_bps is None:
                fee_bps = await _bridge_fee(r1, m1)
            l1 = chains[0]
            assert l1.meter is not None
            deposit_wei = DEPOSIT_GAS * await l1.meter.wei_per_gas()
            chains.append(
                ChainSource(
                    r2, m2, l2=True, bridge=BridgeCostModel(fee_bps),
                    time_bps_per_min=req.time_bps_per_min,
                    l1_deposit_gas_quote=await _deposit_gas_quote(l1, inst, deposit_wei),
                )
            )  # fmt: skip
        cexes = []
        for name, url in req.cex:
            from agent.venues.cex import CexConfig, CexVenue

            try:
                v = await CexVenue.connect(
                    CexConfig(name, api_key="sim-key", secret="sim-secret", sim_url=url)
                )
            except AgentError:
                raise
            stack.push_async_callback(v.close)
            cexes.append(CexSource(v, req.cex_symbol, req.max_book_age_ms))
        only = req.venues or None
        got = await gather(inst, req.side, size, chains=chains[:1], cexes=cexes, only=only)
        if len(chains) > 1:  # the L2 in the names of what the bridge delivers there
            l2_inst = l2_instrument(inst, chains[1].manifest, req.l2_symbols)
            l2 = await gather(l2_inst, req.side, size, chains=chains[1:], only=only)
            got.legs = sorted([*got.legs, *l2.legs], key=lambda lg: lg.venue_id)
            got.excluded += l2.excluded
            got.pins.update(l2.pins)
    if not got.legs:
        why = "; ".join(f"{v}: {r}" for v, r in got.excluded) or "the manifests list no pool for it"
        raise ValidationError(
            "--venues",
            f"no venue can trade {inst.symbol} ({why})",
            "check --venues and the manifests",
        )
    return report_of(
        got.legs, req.side, size, parent_id=req.parent_id, base=inst.base, quote=inst.quote,
        base_decimals=bd, quote_decimals=qd, limit=req.limit, excluded=got.excluded,
    )  # fmt: skip


async def _deposit_gas_quote(l1: ChainSource, inst: Spot, wei: int) -> int:
    """The L1 deposit's gas in quote units, at the L1 native coin's price in the quote."""
    from agent.routing.sources import native_in_quote

    block = await l1.rpc.block_number()
    v = wei * await native_in_quote(l1, inst.quote, block, None, "")
    return -(-v.numerator // v.denominator)
