"""Helpers for the CEX integration tests (importable as ``cex_helpers``)."""

from __future__ import annotations

from agent.exchange_sim.faults import FaultConfig
from agent.exchange_sim.server import ExchangeSim, SimConfig
from agent.venues.cex import CexConfig, CexVenue


async def start_sim(venue: str, faults: str = "", **kw) -> ExchangeSim:
    sim = ExchangeSim(SimConfig(venue=venue, faults=FaultConfig.parse(faults), **kw))
    await sim.start()
    return sim


def venue_config(sim: ExchangeSim, **kw) -> CexConfig:
    return CexConfig(
        sim.config.venue,
        api_key="sim-key",
        secret="sim-secret",
        sim_url=sim.url,
        rate_per_s=kw.pop("rate_per_s", 50.0),
        burst=kw.pop("burst", 10),
        **kw,
    )


async def connect(sim: ExchangeSim, **kw) -> CexVenue:
    return await CexVenue.connect(venue_config(sim, **kw))
