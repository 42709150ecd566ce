"""The walking skeleton's pre-trade limit: max order notional in the quote asset.

A pure check returning a Decision; the full gate (agent.risk) composes many such checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.model.decisions import Allow, Decision, Deny


@dataclass(frozen=True, slots=True)
class NotionalLimit:
    max_notional: Decimal  # in the quote asset, human units (e.g. USDC)

    def __call__(self, notional: Decimal | None) -> Decision:
        if notional is None:
            return Deny(
                "RISK_INPUT_MISSING", "no reference price for the notional; retry", "max_notional"
            )
        if notional > self.max_notional:
            return Deny(
                "RISK_MAX_NOTIONAL",
                f"order notional {notional:.2f} exceeds the limit {self.max_notional}; "
                "split the order or raise risk.max_notional",
                "max_notional",
            )
        return Allow("max_notional", f"{notional:.2f} <= {self.max_notional}")
