"""The risk gate for swap orders: agent.risk's gate with its checks, run inside the OMS.

The pipeline quotes first (the gate needs a price), then hands the OMS a SubmitOrder; the
OMS runs :class:`SwapRiskCheck` on it. The check's inputs for that order (the quotes, the
Safe's balances at the quoted block) are staged with :meth:`SwapRisk.stage` just before, so
the check itself is pure: build the context (cheap, ~0.3 ms for a spot book), evaluate.

Reference price: the median of every venue's all-in quote at the pinned block (there is no
oracle on the devnets); the order's quote price is the picked venue's. The price band thus
catches a venue far off the others, and max slippage bounds the worst price the swap accepts.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from agent.errors import RiskError
from agent.model import Spot
from agent.model.positions import Portfolio, Position
from agent.oms.commands import SubmitOrder
from agent.risk.checks import OrderProposal, RiskContext, RiskLimits
from agent.risk.context import build_context
from agent.risk.gate import RiskGate
from agent.risk.market import MarketSnapshot, UnderlyingMarket
from agent.risk.oms_check import RiskGateCheck, proposal_from_command


@dataclass(frozen=True, slots=True)
class Staged:
    """What the gate needs to know about one order, taken at the quoted block."""

    instrument: Spot
    quote_price: Decimal | None  # picked venue, all-in, quote asset per base asset
    reference_price: Decimal | None  # median over venues
    base_balance: Decimal  # the Safe's holdings, human units
    quote_balance: Decimal
    wallet: str  # position venue name, e.g. safe@L1


class SwapRisk:
    """Owns the limits, the gate and the per-order staging; ``check`` goes to the OMS."""

    def __init__(
        self, limits: RiskLimits, *, vol: float = 0.8, gate: RiskGate | None = None
    ) -> None:
        self.limits = limits
        self.vol = vol  # flat vol for the margin grid of a spot book (no options traded here)
        self.gate = gate or RiskGate()
        self._staged: dict[str, Staged] = {}
        # submission times for the order-rate check (this process; a restart starts afresh)
        self.recent: deque[datetime] = deque(maxlen=max(limits.max_orders, 1) * 2)
        # agent.risk's OMS adapter; its ``explain`` gives the OMS every inner verdict
        self.check = RiskGateCheck(self.resolve, self.context, self.gate)
        self.prices = QuotePrices()  # reference prices for the signing policy's guard

    def stage(self, client_order_id: str, staged: Staged) -> None:
        self._staged[client_order_id] = staged
        i = staged.instrument
        self.prices.observe(i.base, i.quote, staged.reference_price)

    def unstage(self, client_order_id: str) -> None:
        self._staged.pop(client_order_id, None)

    def _staged_for(self, cmd: SubmitOrder) -> Staged:
        s = self._staged.get(cmd.client_order_id)
        if s is None:
            raise RiskError(f"no quote staged for {cmd.client_order_id!r}")
        return s

    def resolve(self, cmd: SubmitOrder) -> OrderProposal:
        s = self._staged_for(cmd)
        return proposal_from_command(cmd, s.instrument, quote_price=s.quote_price)

    def context(self, p: OrderProposal) -> RiskContext:
        s = self._staged_for_id(p.client_order_id)
        now = datetime.now(UTC)
        if s.reference_price is None:
            raise RiskError(f"no reference price for {s.instrument.symbol}")
        market = MarketSnapshot(
            now, {s.instrument.base: UnderlyingMarket(float(s.reference_price), self.vol, now)}
        )
        positions = (Position(s.instrument, s.base_balance, s.wallet),) if s.base_balance else ()
        pf = Portfolio(positions, ((s.instrument.quote, s.quote_balance),))
        return build_context(
            pf, market, self.limits, now=now, instruments=[(s.instrument, Decimal(1))],
            recent_orders=tuple(self.recent),
        )  # fmt: skip

    def _staged_for_id(self, cid: str) -> Staged:
        s = self._staged.get(cid)
        if s is None:
            raise RiskError(f"no quote staged for {cid!r}")
        return s

    def submitted(self) -> None:
        """Count an order towards the order-rate limit (called when it is accepted)."""
        self.recent.append(datetime.now(UTC))


class QuotePrices:
    """A price source for the signing policy (agent.policy.guard's ``PriceSource``): the
    reference price of the latest quotes, per asset, in USD, where the assets in ``usd``
    (dollar stablecoins) count as 1 USD. An asset never quoted has no price (the guard then
    denies what needs one)."""

    def __init__(self, usd: frozenset[str] = frozenset({"USD", "USDC", "USDT", "DAI"})) -> None:
        self.usd = usd
        self.last: dict[str, Decimal] = {}

    def observe(self, base: str, quote: str, price: Decimal | None) -> None:
        if price is not None and quote.upper() in self.usd:
            self.last[base.upper()] = price

    def _usd(self, symbol: str) -> Decimal | None:
        s = symbol.upper()
        return Decimal(1) if s in self.usd else self.last.get(s)

    async def __call__(self, base: str, quote: str) -> Decimal | None:
        b, q = self._usd(base), self._usd(quote)
        return None if b is None or not q else b / q


def reference_price(prices: list[Decimal]) -> Decimal | None:
    return statistics.median(prices) if prices else None


__all__ = ["QuotePrices", "Staged", "SwapRisk", "reference_price"]
