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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from agent.errors import RiskError
from agent.model import Side, Spot
from agent.model.decisions import Allow, Decision
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


ROUTE_CHILD = "route-child"  # agent.execution.plan.CHILD_STRATEGY
PriceOf = Callable[[str, str], Awaitable[Decimal | None]]


class PlanRisk:
    """The swap pipeline's risk gate for a routed plan's children: the same :class:`SwapRisk`
    (its limits, every check of agent.risk.gate, the order-rate window shared with the swap
    pipeline's orders) as an OMS check that judges only ``route-child`` orders; the parent is
    judged through its children (a parent is not signed, its children are).

    Per child the gate sees: its own average all-in price as the quote, the reference price
    from ``reference`` (the chain's oracles; the median of the plan's children where there is
    none), and the account it trades from (the Safe on its chain, or the exchange account) as
    held now PLUS what the plan's earlier children move, so a position limit counts the whole
    plan, not each child alone."""

    name = "risk_gate"

    def __init__(self, risk: SwapRisk, reference: PriceOf | None = None) -> None:
        self.risk = risk
        self.reference = reference

    def __call__(self, cmd: SubmitOrder, store: Any) -> Decision:
        return self.explain(cmd, store)[0]

    def explain(self, cmd: SubmitOrder, store: Any) -> tuple[Decision, tuple[Any, ...]]:
        if cmd.strategy != ROUTE_CHILD:
            return Allow(self.name, "a routed parent: each of its children is gated"), ()
        return self.risk.check.explain(cmd, store)

    def submitted(self) -> None:
        self.risk.submitted()

    def unstage(self, children: Sequence[Any]) -> None:
        for c in children:
            self.risk.unstage(c.client_order_id)

    async def stage_plan(self, plan: Any, children: Sequence[Any], executor: Any) -> None:
        """Stage every child of ``plan`` (agent.routing.plan.PlannedChild) for the gate; the
        accounts are read once per plan (``executor``: the PlanExecutor, its wallets and
        exchanges). A child whose account cannot be read is left unstaged: the gate then
        denies it (RISK_INPUT_MISSING), nothing of it is sent."""
        inst = Spot(plan.base, plan.quote)
        bd, qd = executor.bd, executor.qd
        prices = {
            c.client_order_id: Decimal(c.quote_amount).scaleb(-qd)
            / Decimal(c.base_amount).scaleb(-bd)
            for c in children
            if c.base_amount > 0
        }
        ref = None
        if self.reference is not None:
            try:
                ref = await self.reference(plan.base, plan.quote)
            except Exception:  # an oracle read failing: the children's median below
                ref = None
        if ref is None:
            ref = reference_price(list(prices.values()))
        held: dict[str, tuple[Decimal, Decimal]] = {}
        for c in children:
            where = _account(c)
            if where not in held:
                try:
                    held[where] = await _holdings(executor, plan, c)
                except Exception:
                    continue
            b, q = held[where]
            self.risk.stage(
                c.client_order_id,
                Staged(inst, prices.get(c.client_order_id), ref, b, q, where),
            )
            qty = Decimal(c.base_amount).scaleb(-bd)
            cash = Decimal(c.quote_amount).scaleb(-qd)
            held[where] = (b + qty, q - cash) if c.side is Side.BUY else (b - qty, q + cash)


def _account(c: Any) -> str:
    return c.venue_id if c.chain_id is None else f"safe@{c.chain_id}"


async def _holdings(executor: Any, plan: Any, c: Any) -> tuple[Decimal, Decimal]:
    """(base, quote) the child's account holds now, human units."""
    if c.chain_id is None:  # an exchange account: its spot balances
        ref = c.venue_ref if isinstance(c.venue_ref, dict) else {"symbol": c.venue_ref}
        sym = str(ref.get("symbol") or f"{plan.base}/{plan.quote}")
        b, _, q = sym.partition("/")
        bal = await executor.cex[c.venue_id].balances()
        return Decimal(bal.get(b, 0)), Decimal(bal.get(q, 0))
    w = executor.chains[c.chain_id]
    arg = "0" * 24 + w.safe[2:].lower()
    toks = [w.manifest.token(w.symbol(plan.base)), w.manifest.token(w.symbol(plan.quote))]
    answers = await w.rpc.batch(
        [("eth_call", [{"to": t.address, "data": "0x70a08231" + arg}, "latest"]) for t in toks]
    )
    out = []
    for t, a in zip(toks, answers, strict=True):
        if isinstance(a, BaseException):
            raise a
        out.append(Decimal(int(a, 16)).scaleb(-t.decimals))
    return out[0], out[1]


__all__ = ["PlanRisk", "QuotePrices", "Staged", "SwapRisk", "reference_price"]
