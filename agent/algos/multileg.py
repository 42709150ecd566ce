"""Atomic multi-leg execution of an option strategy through the Safe.

One call to :meth:`MultilegExecutor.run`:
  1. lists each leg's on-chain series (refused if the market does not list it),
  2. requests quotes for all legs concurrently (RFQ over HTTP),
  3. checks every quote against our model, the size limits and the policy, recomputing each
     EIP-712 digest (agent.venues.options.checks); nonces already used on-chain are refused,
  4. computes the strategy's net Greeks and max loss from the quoted premiums, BEFORE signing,
  5. checks the Safe can fund premiums and collateral in fill order,
  6. builds ONE batch — approvals, ``fillQuotes`` for every leg, and optionally a Uniswap V3
     delta-hedge swap — and sends it as one Safe transaction through MultiSendCallOnly.
Either every leg and the hedge execute, or (a revert) none does. Every refusal and outcome is
journaled. Any failure before step 6 means nothing was signed.

The fund's signing policy is NOT evaluated here: the module executor's guard
(agent.execution.guarded.policy_guard, the same PolicyGuard every Safe module call goes
through, with the oracles' reference prices) checks the exact batch before signing. Its
refusal is journaled here as ``MultilegFailed`` with the policy's code (after
``MultilegSubmitted``: every submitted strategy ends executed or failed) and re-raised as the
executor's ``PolicyDeniedError``; nothing was signed or sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from eth_abi import decode

from agent.algos.multileg_orders import MultilegOrders
from agent.deploy.manifest import Manifest
from agent.errors import PolicyDeniedError, RpcError, ValidationError
from agent.journal import ANY, Store
from agent.model import Side, to_base_units
from agent.model.decisions import Deny
from agent.oms.manager import OrderManager
from agent.strategies.analytics import NetGreeks, strategy_risk
from agent.strategies.legs import Leg, Strategy
from agent.strategies.pricing import MarketView, VolSurface
from agent.venues.options import calldata
from agent.venues.options.checks import LegRequest, QuoteCheckContext, check_all
from agent.venues.options.eip712 import SignedQuote
from agent.venues.options.errors import (
    ExecutionRevertedError,
    QuoteRejectedError,
    UnknownSeriesError,
)
from agent.venues.options.events import (
    MultilegExecuted,
    MultilegFailed,
    MultilegSubmitted,
    OptionsQuoteRejected,
)
from agent.venues.options.executor import SafeExecutor
from agent.venues.options.rfq import RfqClient
from agent.venues.options.series import SeriesTerms, collateral_for, premium_for, terms_for
from agent.wallet.multisend import Call

DEADLINE_S = 600


class InsufficientFundsError(ValidationError):
    code = "INSUFFICIENT_COLLATERAL"


@dataclass(frozen=True, slots=True)
class HedgeSpec:
    """Delta-hedge the strategy on Uniswap V3 in the same transaction."""

    fee: int = 500
    slippage_bps: int = 100
    min_delta: Decimal = Decimal("0.001")  # whole underlying units; smaller deltas are left


@dataclass(frozen=True, slots=True)
class HedgeTrade:
    side: Side  # of the underlying
    amount: int  # underlying base units bought or sold
    limit: int  # quote base units: min received (sell) / max paid (buy)


@dataclass(frozen=True, slots=True)
class LegFill:
    leg: Leg
    series_id: int
    amount: int
    price: int  # quote base units per whole underlying
    premium: Decimal  # quote currency, + received / - paid
    maker: str
    nonce: int


@dataclass(frozen=True, slots=True)
class MultilegPlan:
    strategy: Strategy
    legs: tuple[LegFill, ...]
    quotes: tuple[SignedQuote, ...]
    net_premium: Decimal
    greeks: NetGreeks
    max_loss: Decimal | None
    hedge: HedgeTrade | None
    calls: tuple[Call, ...]
    spot: Decimal


@dataclass(frozen=True, slots=True)
class MultilegResult:
    strategy: str
    legs: tuple[LegFill, ...]
    net_premium: Decimal
    greeks: NetGreeks
    max_loss: Decimal | None
    hedge: HedgeTrade | None
    tx_hash: str
    gas_used: int
    block: int
    order_id: str = ""  # the parent OMS order (agent orders), "" without a journal


@dataclass
class MultilegConfig:
    surface: VolSurface = field(default_factory=VolSurface)
    rate: float = 0.0
    price_tolerance_bps: int = 1000
    price_slack: Decimal = Decimal("1")  # quote currency per unit, for near-zero wings
    min_validity_s: int = 5
    max_leg_size: Decimal | None = None  # whole underlying units
    max_loss_limit: Decimal | None = None  # quote currency; None = no limit
    allowed_makers: frozenset[str] | None = None
    policy: tuple = ()  # per-quote rules: (LegRequest, SignedQuote, ctx) -> Decision
    hedge: HedgeSpec | None = None


class MultilegExecutor:
    def __init__(
        self,
        *,
        manifest: Manifest,
        rfq: RfqClient,
        executor: SafeExecutor,
        config: MultilegConfig | None = None,
        journal: Store | None = None,
        chain: Any = None,  # reads (EngineAccount); default: the executor's own (OwnersExecutor)
        oms: OrderManager | None = None,  # default: one over ``journal``
    ) -> None:
        self.manifest = manifest
        self.rfq = rfq
        self.executor = executor
        self.chain = chain if chain is not None else executor.chain  # type: ignore[attr-defined]
        self.cfg = config or MultilegConfig()
        self.journal = journal
        self._oms = oms
        self.market = manifest.address("OptionsMarket")
        self._listed_ids: set[int] = set()  # a listed series stays listed: ask the chain once

    # --- journal ---------------------------------------------------------------------------
    @property
    def stream(self) -> str:
        return f"options:{self.executor.safe}"

    def _journal(self, event: object) -> None:
        if self.journal is not None:
            self.journal.append(self.stream, ANY, [event])

    def _refuse(self, strategy: Strategy, code: str, reason: str, **kw: object) -> None:
        self._journal(OptionsQuoteRejected(strategy.name, self.executor.safe, code, reason, **kw))

    # --- chain reads -----------------------------------------------------------------------
    async def _spot(self, feed: str) -> Decimal:
        from agent.marketmaker.chain import DECIMALS, LATEST_ROUND

        dec_raw, rd_raw = await asyncio.gather(
            self.chain.call(feed, DECIMALS), self.chain.call(feed, LATEST_ROUND)
        )
        (dec,) = decode(["uint8"], dec_raw)
        answer = decode(["uint80", "int256", "uint256", "uint256", "uint80"], rd_raw)[1]
        return Decimal(answer).scaleb(-dec)

    async def _listed(self, t: SeriesTerms) -> bool:
        if t.series_id in self._listed_ids:
            return True
        from eth_abi import encode
        from eth_utils import function_signature_to_4byte_selector as sel

        data = sel("collateralFor(uint256,uint256)") + encode(
            ["uint256", "uint256"], [t.series_id, 0]
        )
        try:
            await self.chain.call(self.market, data)
        except RpcError:
            return False
        self._listed_ids.add(t.series_id)
        return True

    async def _nonce_used(self, sq: SignedQuote) -> bool:
        raw = await self.chain.call(
            self.market, calldata.nonce_used(sq.quote.maker, sq.quote.nonce)
        )
        return bool(decode(["bool"], raw)[0])

    async def _balance(self, token: str) -> int:
        raw = await self.chain.call(token, calldata.erc20_balance_of(self.executor.safe))
        return int(decode(["uint256"], raw)[0])

    # --- planning --------------------------------------------------------------------------
    async def plan(self, strategy: Strategy) -> MultilegPlan:
        """Quotes, checks, risk and the batch; raises (and journals) on any refusal. Nothing
        is signed here."""
        feed = self.manifest.address(f"PriceFeed{strategy.underlying}")
        u = self.manifest.token(strategy.underlying)
        q = self.manifest.token(strategy.quote)
        terms = [terms_for(leg.option, self.manifest, feed=feed) for leg in strategy.legs]
        listed, spot, now = await asyncio.gather(
            asyncio.gather(*(self._listed(t) for t in terms)), self._spot(feed), self.chain.now()
        )
        for i, ok in enumerate(listed):
            if not ok:
                msg = (
                    f"leg {i}: series {strategy.legs[i].option.symbol} ({terms[i].series_id:#x}) "
                    "is not listed on the options market"
                )
                self._refuse(strategy, "SERIES_MISMATCH", msg, leg=i, series_id=terms[i].series_id)
                raise UnknownSeriesError(
                    f"legs[{i}].option", msg, "list the series first", code="SERIES_MISMATCH"
                )
        view = MarketView(spot, self.cfg.surface, float(now), self.cfg.rate)
        reqs: list[LegRequest] = []
        for i, (leg, t) in enumerate(zip(strategy.legs, terms, strict=True)):
            g = view.greeks(leg.option.kind, leg.option.strike, leg.option.expiry)
            model = int(Decimal(repr(g.price)).scaleb(q.decimals).to_integral_value())
            amount = to_base_units(leg.size, u.decimals, field=f"legs[{i}].size")
            reqs.append(LegRequest(i, t, leg.side, amount, model))

        quotes = await asyncio.gather(
            *(
                self.rfq.request(r.series, r.side, r.amount, self.executor.safe, leg=r.index)
                for r in reqs
            ),
            return_exceptions=True,
        )
        for i, res in enumerate(quotes):
            if isinstance(res, QuoteRejectedError):
                self._refuse(strategy, res.code, res.reason, leg=i)
                raise res
            if isinstance(res, BaseException):
                self._refuse(strategy, getattr(res, "code", "RFQ_FAILED"), str(res), leg=i)
                raise res
        sqs: list[SignedQuote] = list(quotes)  # type: ignore[arg-type]
        used = await asyncio.gather(*(self._nonce_used(sq) for sq in sqs))
        ctx = QuoteCheckContext(
            chain_id=self.chain.chain_id,
            market=self.market,
            taker=self.executor.safe,
            now=now,
            min_validity_s=self.cfg.min_validity_s,
            max_amount=(
                to_base_units(self.cfg.max_leg_size, u.decimals) if self.cfg.max_leg_size else None
            ),
            price_tolerance_bps=self.cfg.price_tolerance_bps,
            price_slack=int(self.cfg.price_slack.scaleb(q.decimals)),
            allowed_makers=self.cfg.allowed_makers,
            used_nonces=frozenset(
                (sq.quote.maker, sq.quote.nonce) for sq, u_ in zip(sqs, used, strict=True) if u_
            ),
            policy=self.cfg.policy,
        )
        for i, d in enumerate(check_all(sqs, reqs, ctx)):
            if isinstance(d, Deny):
                sq = sqs[i]
                self._refuse(
                    strategy, d.code, d.reason, leg=i, maker=sq.quote.maker,
                    nonce=sq.quote.nonce, series_id=sq.quote.series_id,
                )  # fmt: skip
                raise QuoteRejectedError(d.code, d.reason, leg=i)
            if not d.allowed:  # Reduce: we do not partially fill a strategy
                raise QuoteRejectedError(
                    getattr(d, "code", "REDUCE"), getattr(d, "reason", ""), leg=i
                )

        # Risk at the quoted premiums, before anything is signed.
        per_unit = {i: Decimal(sq.quote.price).scaleb(-q.decimals) for i, sq in enumerate(sqs)}
        risk = strategy_risk(strategy, view, per_unit)
        lim = self.cfg.max_loss_limit
        if lim is not None and (risk.max_loss is None or risk.max_loss > lim):
            reason = f"max loss {risk.max_loss if risk.max_loss is not None else 'unbounded'} exceeds the limit {lim}"
            self._refuse(strategy, "MAX_LOSS_LIMIT", reason)
            raise QuoteRejectedError("MAX_LOSS_LIMIT", reason)

        fills = []
        for i, (sq, r) in enumerate(zip(sqs, reqs, strict=True)):
            prem = premium_for(sq.quote.price, r.amount, terms[i].unit)
            signed_prem = Decimal(prem).scaleb(-q.decimals)
            fills.append(
                LegFill(
                    strategy.legs[i], r.series.series_id, r.amount, sq.quote.price,
                    signed_prem if r.side is Side.SELL else -signed_prem,
                    sq.quote.maker, sq.quote.nonce,
                )
            )  # fmt: skip
        hedge = self._hedge(risk.greeks.delta, spot, u.decimals, q.decimals)
        calls = await self._calls(strategy, reqs, sqs, hedge, now)
        return MultilegPlan(
            strategy, tuple(fills), tuple(sqs), sum((f.premium for f in fills), Decimal(0)),
            risk.greeks, risk.max_loss, hedge, tuple(calls), spot,
        )  # fmt: skip

    def _hedge(self, delta: Decimal, spot: Decimal, udec: int, qdec: int) -> HedgeTrade | None:
        h = self.cfg.hedge
        if h is None or abs(delta) < h.min_delta:
            return None
        amount = int(abs(delta).scaleb(udec).to_integral_value(rounding=ROUND_FLOOR))
        if amount == 0:
            return None
        notional = abs(delta) * spot
        if delta > 0:  # long delta: sell the underlying, accept at least spot*(1-slippage)
            limit = notional * (10_000 - h.slippage_bps) / 10_000
            return HedgeTrade(
                Side.SELL, amount, int(limit.scaleb(qdec).to_integral_value(ROUND_FLOOR))
            )
        limit = notional * (10_000 + h.slippage_bps) / 10_000
        return HedgeTrade(
            Side.BUY, amount, int(limit.scaleb(qdec).to_integral_value(ROUND_CEILING))
        )

    async def _calls(
        self,
        strategy: Strategy,
        reqs: Sequence[LegRequest],
        sqs: Sequence[SignedQuote],
        hedge: HedgeTrade | None,
        now: int,
    ) -> list[Call]:
        u = self.manifest.token(strategy.underlying)
        q = self.manifest.token(strategy.quote)
        # Fill short legs first: the premium they earn arrives before the longs are paid for.
        order = sorted(range(len(reqs)), key=lambda i: 0 if reqs[i].side is Side.SELL else 1)
        need = {q.address: 0, u.address: 0}
        running = dict(need)
        low = dict(need)
        for i in order:
            r, sq = reqs[i], sqs[i]
            prem = premium_for(sq.quote.price, r.amount, r.series.unit)
            if r.side is Side.BUY:
                running[q.address] -= prem
                need[q.address] += prem
            else:
                running[q.address] += prem
                coll = collateral_for(r.series, r.amount)
                running[r.series.collateral] -= coll
                need[r.series.collateral] += coll
            for a in low:
                low[a] = min(low[a], running[a])
        swap_in = 0
        if hedge is not None:
            swap_in = hedge.amount if hedge.side is Side.SELL else hedge.limit
            token_in = u.address if hedge.side is Side.SELL else q.address
            low[token_in] = min(low[token_in], running[token_in] - swap_in)
        bal = dict(zip(low, await asyncio.gather(*(self._balance(a) for a in low)), strict=True))
        for a, lo in low.items():
            if bal[a] + lo < 0:
                sym = u.symbol if a == u.address else q.symbol
                dec = u.decimals if a == u.address else q.decimals
                reason = (
                    f"the Safe holds {Decimal(bal[a]).scaleb(-dec)} {sym} but the strategy needs "
                    f"{Decimal(-lo).scaleb(-dec)} {sym} for premiums and collateral"
                )
                self._refuse(strategy, "INSUFFICIENT_COLLATERAL", reason)
                raise InsufficientFundsError(f"safe.{sym}", reason, f"fund the Safe with {sym}")
        calls = [Call(a, calldata.approve(self.market, n)) for a, n in need.items() if n > 0]
        calls.append(
            Call(self.market, calldata.fill_quotes([(sqs[i], reqs[i].amount) for i in order]))
        )
        if hedge is not None:
            router = self.manifest.address("SwapRouter")
            deadline = now + DEADLINE_S
            fee = self.cfg.hedge.fee if self.cfg.hedge else 500
            if hedge.side is Side.SELL:
                calls.append(Call(u.address, calldata.approve(router, hedge.amount)))
                calls.append(Call(router, calldata.exact_input_single(
                    u.address, q.address, fee, self.executor.safe, deadline, hedge.amount, hedge.limit,
                )))  # fmt: skip
            else:
                calls.append(Call(q.address, calldata.approve(router, hedge.limit)))
                calls.append(Call(router, calldata.exact_output_single(
                    q.address, u.address, fee, self.executor.safe, deadline, hedge.amount, hedge.limit,
                )))  # fmt: skip
                calls.append(Call(q.address, calldata.approve(router, 0)))  # unused allowance
        return calls

    # --- execution -------------------------------------------------------------------------
    async def execute(self, plan: MultilegPlan) -> MultilegResult:
        s = plan.strategy
        self._journal(
            MultilegSubmitted(
                s.name, self.executor.safe, tuple(f.leg.option.symbol for f in plan.legs),
                plan.net_premium, plan.max_loss, len(plan.calls),
            )
        )  # fmt: skip
        orders = self._orders()
        pid = MultilegOrders.new_id()
        if orders is not None:
            await orders.open(pid, plan, self.manifest.token(s.underlying).decimals)
        sent: list[str] = []

        async def on_sent(tx_hash: str) -> None:
            sent.append(tx_hash)
            if orders is not None:
                await orders.sent(pid, plan, tx_hash)

        async def fail(code: str, reason: str, denied: bool = False) -> None:
            if orders is not None:
                await orders.failed(pid, plan, code, reason, denied=denied)

        try:
            res = await self.executor.execute(plan.calls, client_order_id=pid, on_sent=on_sent)
        except PolicyDeniedError as e:  # the executor's guard: refused before signing
            reason = f"signing policy refused the batch ({e.rule}): {e.reason}; nothing was sent"
            self._journal(MultilegFailed(s.name, self.executor.safe, e.code, reason))
            await fail(e.code, reason, denied=True)
            raise
        except RpcError as e:
            # eth_estimateGas simulated the batch and it reverts: nothing was sent.
            reason = f"the batch would revert ({e.message}); nothing was sent"
            self._journal(MultilegFailed(s.name, self.executor.safe, "MULTILEG_REVERTED", reason))
            await fail("MULTILEG_REVERTED", reason)
            raise ExecutionRevertedError(reason) from e
        if not sent and orders is not None:  # an executor without on_sent: mined now
            await orders.sent(pid, plan, res.tx_hash)
            sent.append(res.tx_hash)
        if not res.ok:
            reason = f"transaction {res.tx_hash} reverted; no leg executed"
            self._journal(
                MultilegFailed(s.name, self.executor.safe, "MULTILEG_REVERTED", reason, res.tx_hash)
            )
            await fail("MULTILEG_REVERTED", reason)
            raise ExecutionRevertedError(reason)
        self._journal(
            MultilegExecuted(s.name, self.executor.safe, res.tx_hash, res.gas_used, res.block)
        )
        if orders is not None:
            ctx = (
                self.executor.safe, self.market,
                self.manifest.token(s.underlying), self.manifest.token(s.quote),
            )  # fmt: skip
            await orders.filled(pid, plan, res.tx_hash, getattr(res, "logs", ()), ctx)
        return MultilegResult(
            s.name, plan.legs, plan.net_premium, plan.greeks, plan.max_loss, plan.hedge,
            res.tx_hash, res.gas_used, res.block, pid if orders is not None else "",
        )  # fmt: skip

    def _orders(self) -> MultilegOrders | None:
        """The OMS view of this executor's strategies (None without a journal)."""
        if self._oms is None and self.journal is not None:
            self._oms = OrderManager.open(self.journal)
        if self._oms is None:
            return None
        return MultilegOrders(self._oms, self.chain.chain_id)

    async def run(self, strategy: Strategy) -> MultilegResult:
        return await self.execute(await self.plan(strategy))
