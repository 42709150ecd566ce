"""A quote service for devnets and paper trading: answers RFQs with EIP-712-signed quotes
priced from Black-Scholes on a vol surface plus a spread, and refuses (or hedges) beyond its
inventory limits. Run it with ``python -m agent.marketmaker``."""

from agent.marketmaker.inventory import Inventory, InventoryLimits
from agent.marketmaker.quoter import MakerConfig, Quoter, QuoteRefused, Rfq

__all__ = ["Inventory", "InventoryLimits", "MakerConfig", "QuoteRefused", "Quoter", "Rfq"]
