"""The walking skeleton, all real: a swap intent through every layer.

intent -> idempotency (client id) -> quotes from every AMM venue at ONE pinned block ->
notional limit -> pick the best all-in quote -> build approve/swap/approve(0) with
recipient = the Safe and the slippage bound -> sign (operator key) -> execute through the
Safe's module -> receipt -> fill parsed from the token Transfer logs -> journal -> report.

Every step is journaled on the order's stream (``order-<client id>``); the transaction's own
write-ahead records are on the sender's tx stream (see agent.wallet.executor).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.errors import NoRouteError, ValidationError
from agent.execution.limits import NotionalLimit
from agent.journal import ANY, NO_STREAM, Store
from agent.model import Quote, Side, Spot, SwapIntent
from agent.oms.events import (
    OrderAccepted,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderSubmitted,
    order_stream,
)
from agent.routing.cost import GasPrice, Scored, best
from agent.wallet.executor import Execution, ModuleExecutor
from agent.wallet.multisend import Call

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
DEADLINE_S = 300


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
    status: str  # filled | denied | duplicate | rejected
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

    def _price(self, amount_in: int, amount_out: int) -> Decimal | None:
        """Quote-asset per base-asset, human units."""
        if not amount_in or not amount_out:
            return None
        a_in = Decimal(amount_in).scaleb(-self.decimals_in)
        a_out = Decimal(amount_out).scaleb(-self.decimals_out)
        return a_in / a_out if self.intent.side is Side.BUY else a_out / a_in

    @property
    def quoted_price(self) -> Decimal | None:
        return self._price(self.quoted_in, self.quoted_out)

    @property
    def realized_price(self) -> Decimal | None:
        return self._price(self.realized_in, self.realized_out)


def transfers(logs: Sequence[dict], token: str) -> list[tuple[str, str, int]]:
    """(from, to, amount) of every ERC-20 Transfer of ``token`` in the receipt logs."""
    out = []
    for log in logs:
        if log["address"].lower() == token.lower() and log["topics"][0] == TRANSFER_TOPIC:
            frm = "0x" + log["topics"][1][-40:]
            to = "0x" + log["topics"][2][-40:]
            out.append((frm, to, int(log["data"], 16)))
    return out


class SwapPipeline:
    def __init__(
        self,
        *,
        rpc: RpcClient,
        manifest: Manifest,
        venues: Sequence[AmmVenue],
        executor: ModuleExecutor,
        journal: Store,
        safe: str,
        limit: NotionalLimit,
    ) -> None:
        self.rpc = rpc
        self.manifest = manifest
        self.venues = list(venues)
        self.executor = executor
        self.journal = journal
        self.safe = safe
        self.limit = limit

    def _validate(self, intent: SwapIntent) -> None:
        for f in ("base", "quote"):
            self.manifest.token(getattr(intent, f))  # UnknownAssetError names the token
        decimals = self.manifest.token(intent.base).decimals
        if -intent.size.as_tuple().exponent > decimals:  # type: ignore[operator]
            raise ValidationError(
                "intent.size", f"{intent.size} has more than {decimals} decimals of {intent.base}"
            )

    async def run(self, intent: SwapIntent) -> SwapReport:
        self._validate(intent)
        stream = order_stream(intent.client_id)
        base = SwapReport(intent.client_id, "", intent, self.safe)
        if self.journal.version(stream) > 0:
            return _replace(
                base, status="duplicate", reason="client id already executed; not sent again"
            )
        instrument = Spot(intent.base, intent.quote)
        await self.journal.append_async(
            stream, NO_STREAM,
            [OrderInitialized(intent.client_id, instrument.symbol, intent.side, intent.size,
                              max_slippage_bps=intent.max_slippage_bps)],
        )  # fmt: skip

        block = await self.rpc.block_number()
        results = await asyncio.gather(
            *(v.quote(instrument, intent.side, intent.size, block=block) for v in self.venues),
            return_exceptions=True,
        )
        quotes = [r for r in results if isinstance(r, Quote)]
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, NoRouteError):
                raise r
        if not quotes:
            await self.journal.append_async(
                stream,
                ANY,
                [
                    OrderDenied(
                        intent.client_id, "NO_ROUTE", "no venue can fill this size", "routing"
                    )
                ],
            )
            return _replace(
                base, status="denied", code="NO_ROUTE", reason="no venue can fill this size"
            )

        tin = self.manifest.token(quotes[0].asset_in)
        tout = self.manifest.token(quotes[0].asset_out)
        gas = await self._gas_price(quotes[0], intent)
        pick, scored = best(quotes, gas)
        q = pick.quote
        quote_amount = q.amount_in if intent.side is Side.BUY else q.amount_out
        notional = self.manifest.asset(intent.quote).from_base(quote_amount)
        decision = self.limit(notional)
        report = _replace(
            base, venue=q.venue, quote_block=block, quoted_in=q.amount_in, quoted_out=q.amount_out,
            asset_in=tin.symbol, asset_out=tout.symbol, decimals_in=tin.decimals,
            decimals_out=tout.decimals, quotes=tuple(scored),
        )  # fmt: skip
        if not decision.allowed:
            await self.journal.append_async(
                stream, ANY,
                [OrderDenied(intent.client_id, decision.code, decision.reason, decision.rule, ("max_notional",))],  # type: ignore[union-attr]
            )  # fmt: skip
            return _replace(report, status="denied", code=decision.code, reason=decision.reason)  # type: ignore[union-attr]
        await self.journal.append_async(
            stream, ANY, [OrderAccepted(intent.client_id, ("max_notional",))]
        )

        venue = next(v for v in self.venues if v.id == q.venue)
        calls = venue.build_swap(
            q, recipient=self.safe, slippage_bps=intent.max_slippage_bps,
            deadline=int(time.time()) + DEADLINE_S,
        )  # fmt: skip

        async def sent(tx_hash: str) -> None:
            await self.journal.append_async(
                stream, ANY, [OrderSubmitted(intent.client_id, q.venue, tx_hash)]
            )

        try:
            ex: Execution = await self.executor.execute(
                calls, client_order_id=intent.client_id, on_sent=sent
            )
        except Exception as e:
            await self.journal.append_async(
                stream, ANY, [OrderRejected(intent.client_id, getattr(e, "code", "ERROR"), str(e))]
            )
            raise
        paid = sum(
            a for f, _t, a in transfers(ex.logs, tin.address) if f.lower() == self.safe.lower()
        )
        got = sum(
            a for _f, t, a in transfers(ex.logs, tout.address) if t.lower() == self.safe.lower()
        )
        report = _replace(
            report, status="filled", tx_hash=ex.tx_hash, block=ex.block_number,
            realized_in=paid, realized_out=got, gas_used=ex.gas_used,
            effective_gas_price=ex.effective_gas_price,
        )  # fmt: skip
        await self.journal.append_async(
            stream, ANY,
            [OrderFilled(intent.client_id, ex.tx_hash, intent.size, report.realized_price or Decimal(0))],
        )  # fmt: skip
        return report

    async def _gas_price(self, q: Quote, intent: SwapIntent) -> GasPrice:
        """Gas in quote-asset units: exact when the base is the native coin's wrapper (WETH);
        otherwise gas is left out of the comparison (every AMM here costs similar gas)."""
        fee = int((await self.rpc.call("eth_gasPrice")), 16)
        if intent.base == "WETH" and q.amount_in and q.amount_out:
            per_wei = (
                Fraction(q.amount_in, q.amount_out) if intent.side is Side.BUY
                else Fraction(q.amount_out, q.amount_in)
            )  # fmt: skip
            return GasPrice(fee, per_wei)
        return GasPrice(fee, Fraction(0))


def _replace(r: SwapReport, **kw: object) -> SwapReport:
    from dataclasses import replace

    return replace(r, **kw)
