"""The swap pipeline, all real, through the order manager: one intent through every layer.

intent -> idempotency (the OMS knows the client id: a resubmission executes nothing)
-> quotes from every AMM venue at ONE pinned block (+ the Safe's balances there)
-> SubmitOrder to the OMS: trading state -> routing -> the risk gate (agent.risk, every
   check's verdict journaled with its code and reason) -> OrderAccepted | OrderDenied
-> build approve/swap/approve(0) with recipient = the Safe and the slippage bound
   (quoting, picking and building are agent.execution.calls' functions, the same ones
   `agent policy explain --intent` runs)
-> the intent's expected amounts registered with the simulation guard (when the executor
   has one): the exact module call is traced, the Safe's deltas must stay within the
   intent's slippage (else OrderDenied SIMULATION_MISMATCH, nothing signed); the policy
   guard sees the simulated deltas (a refusal -> OrderDenied with the policy's code and rule)
-> sign and send through the tx engine (write-ahead TxSigned) -> OrderSubmitted
-> receipt -> fill from the Transfer logs -> OrderFilled.

Order events live on ``order-<client id>``; the transaction's on the engine's tx stream. A
failure after the transaction was journaled never rejects the order on a guess: it stays
SUBMITTED (or UNKNOWN) until the chain says (see agent.execution.tracking).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.errors import (
    DuplicateOrderError,
    PolicyDeniedError,
    TransactionFailedError,
    ValidationError,
)
from agent.execution.calls import choose, gas_price_wei, quote_all, swap_calls
from agent.execution.fills import fill_event, safe_legs, swap_price, transfers
from agent.execution.risk import Staged, SwapRisk, reference_price
from agent.journal import Store
from agent.model import Quote, Side, Spot, SwapIntent, TradingState
from agent.model.decisions import Allow, Decision, Deny
from agent.oms.commands import SubmitOrder
from agent.oms.events import OrderDenied, OrderRejected, OrderSubmitted, OrderUnknown
from agent.oms.manager import OrderManager
from agent.oms.order import Order, OrderState
from agent.oms.trading import gate, reduces
from agent.oms.tx import TxState
from agent.routing.cost import Scored
from agent.wallet.executor import Execution, ModuleExecutor
from agent.wallet.multisend import Call

BALANCE_OF = "0x70a08231"
STRATEGY = "swap"

__all__ = [
    "AmmVenue",
    "RouteCheck",
    "SwapPipeline",
    "SwapReport",
    "expectation_for",
    "register_expectation",
    "transfers",
    "validate_intent",
]

ROUTERS = ("UniswapV2Router02", "SwapRouter")  # the spenders a Uniswap swap may approve


def expectation_for(manifest: Manifest, quotes: Sequence[Quote], slippage_bps: int) -> Any:
    """What the intent allows the Safe's one transaction to do, from the quotes alone (not
    the calls: a tampered batch is checked against this): per token summed over the legs,
    pay at most the quoted in (a BUY: plus the slippage), receive at least the quoted out (a
    SELL: minus the slippage), the bounds the venues build with; approvals only to the
    manifest's routers. None when the legs do not trade one pair (nothing to compare)."""
    from agent.chain.simulate import Expectation
    from agent.venues.uniswap_common import bound

    if not quotes:
        return None
    pairs = {
        (manifest.token(q.asset_in).address, manifest.token(q.asset_out).address) for q in quotes
    }
    if len(pairs) != 1:
        return None
    ((tin, tout),) = pairs
    max_in = sum(
        bound(q.amount_in, slippage_bps, upper=True) if q.side is Side.BUY else q.amount_in
        for q in quotes
    )
    min_out = sum(
        q.amount_out if q.side is Side.BUY else bound(q.amount_out, slippage_bps, upper=False)
        for q in quotes
    )
    spenders = frozenset(manifest.address(r).lower() for r in ROUTERS if r in manifest.contracts)
    return Expectation(tin, max_in, tout, min_out, spenders)


def register_expectation(
    executor: Any, manifest: Manifest, quotes: Sequence[Quote], slippage_bps: int,
    calls: Sequence[Call], client_order_id: str,
) -> None:  # fmt: skip
    """Tell the executor's simulation guard (if it has one) what ``calls`` may do."""
    guard = getattr(executor, "guard", None)
    if guard is None or not hasattr(guard, "expect"):
        return
    exp = expectation_for(manifest, quotes, slippage_bps)
    if exp is not None:
        guard.expect(exp, calls, client_order_id)


def validate_intent(manifest: Manifest, intent: SwapIntent) -> None:
    """The intent against the chain's tokens: known assets, a size with no more decimals
    than the base token has and that fits a uint256 amount (the CLI checks it before
    connecting; the pipeline again for every other caller)."""
    for f in ("base", "quote"):
        manifest.token(getattr(intent, f))  # UnknownAssetError names the token
    decimals = manifest.token(intent.base).decimals
    if -intent.size.as_tuple().exponent > decimals:  # type: ignore[operator]
        raise ValidationError(
            "intent.size", f"{intent.size} has more than {decimals} decimals of {intent.base}"
        )
    if intent.size.scaleb(decimals) >= 1 << 256:  # would not fit a uint256 amount
        raise ValidationError(
            "intent.size",
            f"{intent.size} {intent.base} is more than any token amount (2^256 base units)",
            "pass the amount in human units, e.g. 1.5",
        )


class AmmVenue(Protocol):
    id: str

    async def quote(
        self, instrument: Spot, side: Side, size: Decimal, block: int | None = None
    ) -> Quote: ...

    def build_swap(
        self, quote: Quote, *, recipient: str, slippage_bps: int, deadline: int
    ) -> list[Call]: ...


@dataclass(frozen=True, slots=True)
class SwapReport:
    client_order_id: str
    status: str  # filled | denied | duplicate | rejected | unknown
    intent: SwapIntent
    safe: str
    venue: str = ""
    tx_hash: str = ""
    block: int = 0
    quote_block: int = 0
    quoted_in: int = 0
    quoted_out: int = 0
    realized_in: int = 0
    realized_out: int = 0
    asset_in: str = ""
    asset_out: str = ""
    decimals_in: int = 0
    decimals_out: int = 0
    gas_used: int = 0
    effective_gas_price: int = 0
    quotes: tuple[Scored, ...] = ()
    code: str = ""
    reason: str = ""
    state: str = ""  # the OMS order's state after this run (OrderState value)

    def _price(self, amount_in: int, amount_out: int) -> Decimal | None:
        """Quote-asset per base-asset, human units."""
        if not amount_in or not amount_out:
            return None
        a_in = Decimal(amount_in).scaleb(-self.decimals_in)
        a_out = Decimal(amount_out).scaleb(-self.decimals_out)
        return swap_price(self.intent.side, a_in, a_out)

    @property
    def quoted_price(self) -> Decimal | None:
        return self._price(self.quoted_in, self.quoted_out)

    @property
    def realized_price(self) -> Decimal | None:
        return self._price(self.realized_in, self.realized_out)


class RouteCheck:
    """OMS check: an order no venue can fill is denied (NO_ROUTE) before the risk gate."""

    name = "routing"

    def __init__(self) -> None:
        self._routes: dict[str, str] = {}  # client id -> picked venue ("" = none)

    def stage(self, client_order_id: str, venue: str) -> None:
        self._routes[client_order_id] = venue

    def unstage(self, client_order_id: str) -> None:
        self._routes.pop(client_order_id, None)

    def __call__(self, cmd: SubmitOrder, store: Any) -> Decision:
        venue = self._routes.get(cmd.client_order_id, "")
        if not venue:
            return Deny("NO_ROUTE", "no venue can fill this size", self.name)
        return Allow(self.name, f"best all-in quote: {venue}")


class SwapPipeline:
    def __init__(
        self,
        *,
        rpc: RpcClient,
        manifest: Manifest,
        venues: Sequence[AmmVenue],
        executor: ModuleExecutor,
        manager: OrderManager,
        safe: str,
        risk: SwapRisk,
        route: RouteCheck,
    ) -> None:
        self.rpc = rpc
        self.manifest = manifest
        self.venues = list(venues)
        self.executor = executor
        self.manager = manager
        self.safe = safe
        self.risk = risk
        self.route = route
        # the fund's signed position in an asset (the daemon's, over every account): under
        # REDUCING an order that reduces it is judged reduce-only (agent.oms.trading.reduces)
        self.exposure: Callable[[str], Awaitable[Decimal]] | None = None

    @property
    def journal(self) -> Store:
        return self.manager.journal

    def _validate(self, intent: SwapIntent) -> None:
        validate_intent(self.manifest, intent)

    def command(self, intent: SwapIntent, venue: str, reduce_only: bool = False) -> SubmitOrder:
        return SubmitOrder(
            intent.client_id, Spot(intent.base, intent.quote).symbol, intent.side, intent.size,
            venue=venue, reduce_only=reduce_only, max_slippage_bps=intent.max_slippage_bps,
            strategy=STRATEGY,
        )  # fmt: skip

    async def run(self, intent: SwapIntent) -> SwapReport:
        self._validate(intent)
        cid = intent.client_id
        base = SwapReport(cid, "", intent, self.safe)
        await self.manager.sync_async()  # a halt or an order placed by another process counts
        existing = self.manager.store.get(cid)
        if existing is not None:
            return self._duplicate(base, existing, intent)
        instrument = Spot(intent.base, intent.quote)
        tin, tout = self._tokens(intent)
        report = replace(
            base, asset_in=tin.symbol, asset_out=tout.symbol,
            decimals_in=tin.decimals, decimals_out=tout.decimals,
        )  # fmt: skip
        state = self.manager.store.trading_state
        reduce_only = False
        if state is TradingState.REDUCING and self.exposure is not None:
            reduce_only = reduces(intent.side, intent.size, await self.exposure(intent.base))
        gated = gate(state, self.command(intent, "", reduce_only))
        if not gated.allowed:
            # refused by the desk's trading state (the halt is journaled on its own stream),
            # not by anything about this order: no order is created, so the same client id
            # can be submitted once trading resumes instead of staying denied for good
            code = getattr(gated, "code", "TRADING_HALTED")
            return replace(report, status="denied", code=code, reason=gated.reason)
        pick, report = await self._route(intent, instrument, report)
        venue = pick.quote.venue if pick is not None else ""
        self.route.stage(cid, venue)
        try:
            order = await self.manager.submit_async(self.command(intent, venue, reduce_only))
        finally:
            self.route.unstage(cid)
            self.risk.unstage(cid)
        if order.state is OrderState.DENIED:
            return replace(
                report, status="denied", code=order.code, reason=order.reason, state="denied"
            )
        self.risk.submitted()
        assert pick is not None  # accepted means routed
        return await self._execute(intent, order, pick.quote, report)

    def _tokens(self, intent: SwapIntent) -> tuple[Any, Any]:
        b, q = self.manifest.token(intent.base), self.manifest.token(intent.quote)
        return (q, b) if intent.side is Side.BUY else (b, q)

    async def _route(
        self, intent: SwapIntent, instrument: Spot, report: SwapReport
    ) -> tuple[Scored | None, SwapReport]:
        block = await self.rpc.block_number()
        quotes, balances, fee = await asyncio.gather(
            quote_all(self.venues, intent, block),
            self._balances(intent, block),
            gas_price_wei(self.rpc),
        )
        report = replace(report, quote_block=block)
        if not quotes:
            return None, report
        pick, scored = choose(quotes, intent, fee)
        q = pick.quote
        report = replace(report, venue=q.venue, quoted_in=q.amount_in, quoted_out=q.amount_out,
                         quotes=tuple(scored))  # fmt: skip
        prices = [p for p in (self._quote_price(x, report) for x in quotes) if p is not None]
        self.risk.stage(
            intent.client_id,
            Staged(
                instrument, self._quote_price(q, report), reference_price(prices),
                balances[0], balances[1], f"safe@{self.manifest.name}",
            ),
        )  # fmt: skip
        return pick, report

    @staticmethod
    def _quote_price(q: Quote, r: SwapReport) -> Decimal | None:
        return replace(r, quoted_in=q.amount_in, quoted_out=q.amount_out).quoted_price

    async def _balances(self, intent: SwapIntent, block: int) -> tuple[Decimal, Decimal]:
        """The Safe's base and quote holdings at the quoted block (the risk gate's book)."""
        arg = "0" * 24 + self.safe[2:].lower()
        out = []
        toks = [self.manifest.token(intent.base), self.manifest.token(intent.quote)]
        answers = await self.rpc.batch(
            [("eth_call", [{"to": t.address, "data": BALANCE_OF + arg}, hex(block)]) for t in toks]
        )
        for t, a in zip(toks, answers, strict=True):
            if isinstance(a, BaseException):
                raise a
            out.append(Decimal(int(a, 16)).scaleb(-t.decimals))
        return out[0], out[1]

    async def _execute(
        self, intent: SwapIntent, order: Order, q: Quote, report: SwapReport
    ) -> SwapReport:
        cid = intent.client_id
        calls = swap_calls(self.venues, q, intent, safe=self.safe, now=int(time.time()))

        async def sent(tx_hash: str) -> None:
            if self.manager.store.orders[cid].state is OrderState.ACCEPTED:
                await self.manager.record_async([OrderSubmitted(cid, q.venue, tx_hash)])

        register_expectation(self.executor, self.manifest, [q], intent.max_slippage_bps, calls, cid)
        try:
            ex: Execution = await self.executor.execute(calls, client_order_id=cid, on_sent=sent)
        except PolicyDeniedError as e:  # refused before signing: nothing was sent
            await self.manager.record_async(
                [OrderDenied(cid, e.code, e.reason, e.rule or "policy", ("policy",))]
            )
            return replace(report, status="denied", code=e.code, reason=e.reason, state="denied")
        except Exception as e:
            await self._after_error(cid, e)
            raise
        tin, tout = self._tokens(intent)
        paid, got = safe_legs(ex.logs, self.safe, tin.address, tout.address)
        now = self.manager.store.orders[cid]
        fill = fill_event(now, ex.tx_hash, paid, got, tin.decimals, tout.decimals)
        if fill is not None:
            await self.manager.record_async([fill])
        state = self.manager.store.orders[cid].state
        return replace(
            report, status="filled" if state is OrderState.FILLED else state.value,
            tx_hash=ex.tx_hash, block=ex.block_number, realized_in=paid, realized_out=got,
            gas_used=ex.gas_used, effective_gas_price=ex.effective_gas_price, state=state.value,
        )  # fmt: skip

    async def _after_error(self, cid: str, e: Exception) -> None:
        """Journal what an execution error means for the order, and nothing more: a
        transaction that may still be mined keeps the order open (UNKNOWN if it was never
        seen as sent); only a revert or nothing-sent rejects it."""
        recs = [r for r in self.executor.engine.records.values() if r.client_order_id == cid]
        mined = [r for r in recs if r.state in (TxState.MINED, TxState.CONFIRMED)]
        code = getattr(e, "code", "ERROR")
        o = self.manager.store.orders[cid]
        if o.state.terminal:
            return
        if any(r.success is False for r in mined) and not any(r.success for r in mined):
            h = mined[0].tx_hash
            why = e.message if isinstance(e, TransactionFailedError) else ""
            ev: Any = OrderRejected(cid, "TX_REVERTED", why or f"transaction {h} reverted")
        elif mined or any(r.state.pending for r in recs):
            if o.state is not OrderState.ACCEPTED:
                return  # SUBMITTED: tracked; the chain will settle it
            ev = OrderUnknown(cid, f"{code}: {e}; the transaction is tracked until the chain says")
        else:
            ev = OrderRejected(cid, code, str(e))
        await self.manager.record_async([ev])

    def _duplicate(self, base: SwapReport, o: Order, intent: SwapIntent) -> SwapReport:
        spec = o.spec
        if (spec.instrument, spec.side, spec.quantity, spec.max_slippage_bps) != (
            Spot(intent.base, intent.quote).symbol, intent.side, intent.size,
            intent.max_slippage_bps,
        ):  # fmt: skip
            raise DuplicateOrderError(
                f"client_order_id {intent.client_id!r} is already used by a different order; "
                "use a new id (resubmitting the same intent with the same id is safe)"
            )
        return replace(
            base, status="duplicate", venue=o.venue, tx_hash=o.venue_order_id,
            state=o.state.value, code=o.code,
            reason=f"client id already used (order {o.state.value}); not sent again",
        )  # fmt: skip
