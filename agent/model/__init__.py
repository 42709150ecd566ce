"""Value objects shared by every layer: assets and amounts, instruments, intents, quotes, fills.

All are immutable. On-chain amounts are ``int`` base units; human-facing sizes and prices are
``Decimal``. Floats never appear here.
"""

from agent.model.assets import Asset, from_base_units, to_base_units
from agent.model.enums import OptionKind, OrderType, Side, TimeInForce, TradingState, VenueKind
from agent.model.instruments import Instrument, OptionContract, Perpetual, Spot
from agent.model.intents import SwapIntent
from agent.model.quotes import Fill, Quote

__all__ = [
    "Asset",
    "Fill",
    "Instrument",
    "OptionContract",
    "OptionKind",
    "OrderType",
    "Perpetual",
    "Quote",
    "Side",
    "Spot",
    "SwapIntent",
    "TimeInForce",
    "TradingState",
    "VenueKind",
    "from_base_units",
    "to_base_units",
]
