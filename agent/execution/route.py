"""Plans for orders that will be executed: the router over the same connections the executor
signs through, with the L2 read in the names its Safe holds, and re-plans that leave out what
failed.

The L2 leg of a plan is "a bridge hop + an L2 pool": the inventory that crosses the bridge is
the bridge's token (USDC.B on the dev world), so on the L2 the router reads the pools of the
bridged pair (``l2_symbols``: WETH -> WETH.B, USDC -> USDC.B), not pools of tokens the bridge
never delivers. The L1 and the exchanges are read for the order's own pair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agent.errors import NoRouteError
from agent.model import Side, Spot
from agent.routing.plan import RoutePlan
from agent.routing.service import RouteReport, report_of
from agent.routing.sources import CexSource, ChainSource, Gathered, gather, native_in_quote
from agent.venues.bridge.cost import DEPOSIT_GAS, BridgeCostModel

FAILED = "failed in an earlier attempt of this order"


@dataclass
class OrderRouting:
    """``l1``: the L1 pools' source (its rpc is the executor's); ``l2``: the L2's, or None;
    ``cex``: connected exchange books."""

    l1: ChainSource
    l2: ChainSource | None = None
    cex: Sequence[CexSource] = ()
    l2_symbols: Mapping[str, str] = field(default_factory=dict)
    only: tuple[str, ...] = ()  # ``--venues``

    @classmethod
    async def connect(
        cls,
        l1_rpc: Any,
        l1_manifest: Any,
        *,
        l2_rpc: Any = None,
        l2_manifest: Any = None,
        bridge_fee_bps: int | None = None,
        time_bps_per_min: Decimal = Decimal(0),
        cex: Sequence[CexSource] = (),
        l2_symbols: Mapping[str, str] | None = None,
        quote: str = "USDC",
        only: Sequence[str] = (),
    ) -> OrderRouting:
        l1 = ChainSource(l1_rpc, l1_manifest)
        l2 = None
        if l2_rpc is not None and l2_manifest is not None:
            if bridge_fee_bps is None:
                from agent.routing.service import _bridge_fee

                bridge_fee_bps = await _bridge_fee(l1_rpc, l1_manifest)
            assert l1.meter is not None
            wei = DEPOSIT_GAS * await l1.meter.wei_per_gas()
            per_wei = await native_in_quote(l1, quote, await l1_rpc.block_number(), None, "")
            deposit = wei * per_wei
            l2 = ChainSource(
                l2_rpc, l2_manifest, l2=True, bridge=BridgeCostModel(bridge_fee_bps),
                time_bps_per_min=time_bps_per_min,
                l1_deposit_gas_quote=-(-deposit.numerator // deposit.denominator),
            )  # fmt: skip
        return cls(l1, l2, tuple(cex), dict(l2_symbols or {}), tuple(only))

    async def _gather(self, inst: Spot, side: Side, size: int) -> Gathered:
        only = self.only or None
        jobs = [gather(inst, side, size, chains=[self.l1], cexes=self.cex, only=only)]
        if self.l2 is not None:
            s = self.l2_symbols
            l2_inst = Spot(s.get(inst.base, inst.base), s.get(inst.quote, inst.quote))
            jobs.append(gather(l2_inst, side, size, chains=[self.l2], only=only))
        parts = await asyncio.gather(*jobs)
        out = Gathered()
        for p in parts:
            out.legs += p.legs
            out.excluded += p.excluded
            out.pins.update(p.pins)
        out.legs.sort(key=lambda lg: lg.venue_id)
        return out

    async def plan(
        self,
        inst: Spot,
        side: Side,
        size: int,
        *,
        parent_id: str,
        limit: Decimal | None = None,
        exclude: Sequence[str] = (),
    ) -> RouteReport:
        """The plan for ``size`` base units; venues in ``exclude`` are left out (re-plans)."""
        got = await self._gather(inst, side, size)
        legs = [lg for lg in got.legs if lg.venue_id not in exclude]
        excluded = [*got.excluded, *((v, FAILED) for v in exclude)]
        if not legs:
            why = "; ".join(f"{v}: {r}" for v, r in excluded) or "no pool or book for the pair"
            raise NoRouteError(f"no venue can trade {inst.symbol} ({why})")
        m = self.l1.manifest
        return report_of(
            legs, side, size, parent_id=parent_id, base=inst.base, quote=inst.quote,
            base_decimals=m.token(inst.base).decimals, quote_decimals=m.token(inst.quote).decimals,
            limit=limit, excluded=excluded,
        )  # fmt: skip

    def replanner(self, inst: Spot, side: Side, parent_id: str, limit: Decimal | None) -> Any:
        """The executor's ``replan``: the remainder over every venue but the failed ones, its
        children under ``<parent>-r<attempt>``."""

        async def replan(left: int, attempt: int, failed: tuple[str, ...]) -> RoutePlan:
            try:
                rep = await self.plan(
                    inst, side, left, parent_id=f"{parent_id}-r{attempt}", limit=limit,
                    exclude=failed,
                )  # fmt: skip
            except NoRouteError:
                return RoutePlan(
                    parent_id, side, inst.base, inst.quote, left, limit, (), left, 0,
                    tuple((v, FAILED) for v in failed), None,
                )  # fmt: skip
            return rep.plan

        return replan
