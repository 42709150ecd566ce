"""The bridge venue adapter: quotes (fee + time), deposits through the Safe's module,
tracking to the L2 mint, reconciliation from the chains, and the routing cost model."""

from agent.venues.bridge.cost import BridgeCostModel, BridgeDirection, BridgeEstimate
from agent.venues.bridge.venue import BRIDGE_CAPABILITIES, BridgeTransfer, BridgeVenue

__all__ = [
    "BRIDGE_CAPABILITIES",
    "BridgeCostModel",
    "BridgeDirection",
    "BridgeEstimate",
    "BridgeTransfer",
    "BridgeVenue",
]
