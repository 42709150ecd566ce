"""Margin monitor: turns a stream of margin reports into alerts at configurable thresholds.

Levels are by margin ratio (maintenance / equity): an alert fires when the level changes.
Escalation is immediate; de-escalation waits until the ratio is ``hysteresis`` below the
threshold, so a ratio hovering at a line does not page someone every tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from agent.errors import ValidationError
from agent.risk.margin.model import MarginReport


class AlertLevel(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    LIQUIDATION = 3


@dataclass(frozen=True, slots=True)
class MarginThresholds:
    warning: float = 0.5
    critical: float = 0.8
    liquidation: float = 1.0
    hysteresis: float = 0.02

    def __post_init__(self) -> None:
        if not 0 < self.warning < self.critical < self.liquidation:
            raise ValidationError(
                "monitor.thresholds",
                f"need 0 < warning ({self.warning}) < critical ({self.critical}) "
                f"< liquidation ({self.liquidation})",
            )
        if not 0 <= self.hysteresis < self.warning:
            raise ValidationError(
                "monitor.hysteresis", f"{self.hysteresis} must be in [0, warning)"
            )

    def level(self, ratio: float, margin: float = 0.0) -> AlertLevel:
        """The level of ``ratio`` with every threshold lowered by ``margin``."""
        if ratio >= self.liquidation - margin:
            return AlertLevel.LIQUIDATION
        if ratio >= self.critical - margin:
            return AlertLevel.CRITICAL
        if ratio >= self.warning - margin:
            return AlertLevel.WARNING
        return AlertLevel.OK


@dataclass(frozen=True, slots=True)
class MarginAlert:
    level: AlertLevel
    previous: AlertLevel
    margin_ratio: float
    equity: float
    maintenance: float
    at: datetime

    @property
    def message(self) -> str:
        verb = "rose" if self.level > self.previous else "fell"
        return (
            f"margin ratio {self.margin_ratio:.1%} {verb} to {self.level.name} "
            f"(equity {self.equity:,.2f}, maintenance {self.maintenance:,.2f})"
        )


class MarginMonitor:
    def __init__(self, thresholds: MarginThresholds | None = None) -> None:
        self.thresholds = thresholds or MarginThresholds()
        self.level = AlertLevel.OK

    def observe(self, report: MarginReport, at: datetime) -> MarginAlert | None:
        """Feed one report; returns an alert when the level changed, else None."""
        th = self.thresholds
        ratio = report.margin_ratio
        raw = th.level(ratio)
        if raw > self.level:
            new = raw
        elif raw < self.level:
            # Only step down to the level the ratio holds with the hysteresis applied.
            new = min(self.level, max(raw, th.level(ratio, th.hysteresis)))
        else:
            return None
        if new == self.level:
            return None
        alert = MarginAlert(new, self.level, ratio, report.equity, report.maintenance, at)
        self.level = new
        return alert
