"""The options venue adapter (agent.venues.base.Venue): RFQ quotes checked against our model
and the policy, fills through the Safe. Multi-leg strategies go through
:meth:`OptionsVenue.submit_strategy`, one atomic Safe transaction for all legs."""

from __future__ import annotations

from decimal import Decimal

from agent.algos.multileg import MultilegExecutor, MultilegResult
from agent.errors import ValidationError
from agent.model import (
    Instrument,
    OptionContract,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    VenueKind,
)
from agent.strategies.legs import Leg, Strategy
from agent.venues.base import Capabilities, ChildOrder, VenueOrderRef
from agent.venues.options.series import SeriesTerms
from agent.venues.options.settlement import OptionsSettlement, SettlementResult

GAS_PER_LEG = 250_000  # measured: ~200k per fill in a batch (see bench multileg.gas)


class OptionsVenue:
    kind = VenueKind.OPTIONS
    capabilities = Capabilities(
        order_types=frozenset({OrderType.MARKET}),
        time_in_force=frozenset({TimeInForce.FOK, TimeInForce.IOC}),
        atomic_batch=True,
        on_chain=True,
    )

    def __init__(
        self,
        multileg: MultilegExecutor,
        *,
        venue_id: str | None = None,
        settlement: OptionsSettlement | None = None,
    ) -> None:
        self.multileg = multileg
        self.settlement = settlement
        self.id = venue_id or f"options@{multileg.chain.chain_id}"
        self._submitted: dict[str, VenueOrderRef] = {}

    @staticmethod
    def _option(instrument: Instrument) -> OptionContract:
        if not isinstance(instrument, OptionContract):
            raise ValidationError(
                "instrument", f"{type(instrument).__name__} is not an option", "use OptionContract"
            )
        return instrument

    async def quote(self, instrument: Instrument, side: Side, size: Decimal) -> Quote:
        """A maker's checked, executable quote for one leg (nothing is signed or sent)."""
        opt = self._option(instrument)
        plan = await self.multileg.plan(Strategy.custom(opt.symbol, [Leg(opt, side, size)]))
        f = plan.legs[0]
        premium = int(abs(f.premium).scaleb(self.multileg.manifest.token(opt.quote).decimals))
        extra = (
            ("series_id", hex(f.series_id)), ("maker", f.maker), ("nonce", str(f.nonce)),
            ("price", str(f.price)),
        )  # fmt: skip
        if side is Side.BUY:
            return Quote(
                self.id, side, opt.quote, opt.symbol, premium, f.amount, 0, GAS_PER_LEG,
                extra=extra,
            )  # fmt: skip
        return Quote(
            self.id, side, opt.symbol, opt.quote, f.amount, premium, 0, GAS_PER_LEG, extra=extra
        )

    async def submit(self, child: ChildOrder) -> VenueOrderRef:
        """Fill one leg through the Safe; idempotent on ``client_order_id``."""
        done = self._submitted.get(child.client_order_id)
        if done is not None:
            return done
        opt = self._option(child.instrument)
        res = await self.multileg.run(
            Strategy.custom(child.client_order_id, [Leg(opt, child.side, child.size)])
        )
        ref = VenueOrderRef(self.id, child.client_order_id, res.tx_hash)
        self._submitted[child.client_order_id] = ref
        return ref

    async def submit_strategy(self, strategy: Strategy) -> MultilegResult:
        """Every leg (and the hedge, if configured) in one Safe transaction."""
        return await self.multileg.run(strategy)

    # --- after expiry: through the Safe's module executor (see settlement.py) ---------------
    def _settlement(self) -> OptionsSettlement:
        if self.settlement is None:
            raise ValidationError(
                "settlement", "is not configured on this venue",
                "pass settlement=OptionsSettlement(...) to OptionsVenue",
            )  # fmt: skip
        return self.settlement

    async def settle(self, series: SeriesTerms | int) -> SettlementResult:
        return await self._settlement().settle(series)

    async def exercise(self, series: SeriesTerms | int, qty: int | None = None) -> SettlementResult:
        return await self._settlement().exercise(series, qty)

    async def redeem(self, series: SeriesTerms | int) -> SettlementResult:
        return await self._settlement().redeem(series)

    async def collect(self, series: SeriesTerms | int) -> SettlementResult:
        return await self._settlement().collect(series)

    async def close(self) -> None:
        await self.multileg.rfq.close()
