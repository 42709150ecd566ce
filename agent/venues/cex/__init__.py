"""Centralized exchanges through unmodified ccxt: one adapter for any exchange id."""

from agent.venues.cex.adapter import CexVenue
from agent.venues.cex.config import CexConfig, build_exchange, sim_overrides

__all__ = ["CexConfig", "CexVenue", "build_exchange", "sim_overrides"]
