"""The one conformance suite every venue adapter's tests subclass.

How to use it: subclass :class:`VenueConformance` in your adapter's test module and provide an
async fixture ``venue_case`` that yields a :class:`ConformanceCase` (a fresh, connected venue
plus an instrument and a size it can trade), and closes the venue afterwards::

    import pytest_asyncio
    from venue_conformance import ConformanceCase, VenueConformance  # tests/ is on sys.path

    class TestUniswapV3Conformance(VenueConformance):
        @pytest_asyncio.fixture
        async def venue_case(self, world):
            venue = UniswapV3Venue(...)
            yield ConformanceCase(venue, Spot("WETH", "USDC"), Decimal("0.1"))
            await venue.close()

Mark the subclass (e.g. ``pytestmark = pytest.mark.integration``) as its venue needs. The
suite checks: the declared Capabilities agree with the methods present; ``quote`` returns a sane
Quote for both sides; ``submit`` returns a VenueOrderRef and is idempotent on
``client_order_id``; when ``capabilities.reports``, the reports see the order; ``close()``
works. ``order_type``/``limit_price`` let a CEX rest a passive limit order (so the reports
test sees it open) while an AMM swaps at market.
"""

from __future__ import annotations

import inspect
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest

from agent.model import Instrument, OrderType, Quote, Side, TimeInForce
from agent.venues.base import (
    CancellableVenue,
    ChildOrder,
    StreamingVenue,
    Venue,
    VenueOrderRef,
    VenueReports,
)


@dataclass
class ConformanceCase:
    venue: Venue
    instrument: Instrument
    size: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.IOC
    side: Side = Side.BUY

    def child(self, client_order_id: str | None = None) -> ChildOrder:
        return ChildOrder(
            client_order_id=client_order_id or f"conf-{uuid.uuid4().hex[:16]}",
            instrument=self.instrument,
            side=self.side,
            size=self.size,
            order_type=self.order_type,
            limit_price=self.limit_price,
            time_in_force=self.time_in_force,
        )


class VenueConformance:
    """Generic checks; subclasses provide the ``venue_case`` fixture."""

    @pytest.fixture
    def venue_case(self) -> ConformanceCase:  # pragma: no cover - overridden
        raise NotImplementedError("subclass VenueConformance and provide a venue_case fixture")

    async def test_capabilities_consistent_with_methods(self, venue_case: ConformanceCase):
        v = venue_case.venue
        assert isinstance(v, Venue)
        assert isinstance(v.id, str) and v.id
        caps = v.capabilities
        assert caps.order_types, "a venue must accept at least one order type"
        if caps.cancel:
            assert isinstance(v, CancellableVenue)
            assert inspect.iscoroutinefunction(v.cancel)
        if caps.streaming:
            assert isinstance(v, StreamingVenue)
        if caps.reports:
            assert isinstance(v, VenueReports)
        assert venue_case.order_type in caps.order_types

    @pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
    async def test_quote_is_sane(self, venue_case: ConformanceCase, side: Side):
        v = venue_case.venue
        q = await v.quote(venue_case.instrument, side, venue_case.size)
        assert isinstance(q, Quote)
        assert q.venue == v.id
        assert q.side is side
        assert isinstance(q.amount_in, int) and q.amount_in > 0
        assert isinstance(q.amount_out, int) and q.amount_out > 0
        assert q.asset_in != q.asset_out
        assert 0 <= q.fee_bps < 10_000

    async def test_submit_returns_ref_and_is_idempotent(self, venue_case: ConformanceCase):
        v = venue_case.venue
        child = venue_case.child()
        ref = await v.submit(child)
        assert isinstance(ref, VenueOrderRef)
        assert ref.venue == v.id
        assert ref.client_order_id == child.client_order_id
        assert ref.venue_order_id
        again = await v.submit(child)
        assert again == ref

    async def test_reports_see_the_order(self, venue_case: ConformanceCase):
        v = venue_case.venue
        if not v.capabilities.reports:
            pytest.skip("venue declares no reports")
        assert isinstance(v, VenueReports)
        ref = await v.submit(venue_case.child())
        status = await v.order_status(ref)
        assert status is not None
        assert status.ref.venue_order_id == ref.venue_order_id
        assert status.size == venue_case.size
        if status.state.value in ("open", "partially_filled"):
            assert ref.venue_order_id in {o.ref.venue_order_id for o in await v.open_orders()}
        if status.filled > 0:
            report = await v.fills_since(None)
            assert ref.venue_order_id in {f.order_id for f in report.fills}

    async def test_close(self, venue_case: ConformanceCase):
        await venue_case.venue.close()
