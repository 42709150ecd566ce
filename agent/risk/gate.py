"""The pre-trade risk gate: run every check, keep every verdict, return the first denial.

The OMS calls :meth:`RiskGate.evaluate` (through :class:`agent.risk.oms_check.RiskGateCheck`)
before anything is signed and records every check's verdict in the order's events
(:attr:`GateResult.verdicts`, each a frozen :class:`CheckVerdict` with ``to_dict()``), so the
journal shows why an order was allowed, cut down or refused, check by check. A check that
raises, or returns something that is not a Decision, is a denial (``RISK_CHECK_ERROR``),
never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from agent.model.decisions import Allow, Decision, Deny, Reduce
from agent.risk.checks import DEFAULT_CHECKS, OrderProposal, RiskContext

CheckFn = Callable[[OrderProposal, RiskContext], Decision]


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    REDUCE = "reduce"


@dataclass(frozen=True, slots=True)
class CheckVerdict:
    """One check's verdict as the journal keeps it. ``code`` and ``reason`` are empty for
    an allow (``reason`` then carries the check's note, if any); ``max_quantity`` is set for
    a reduce only. ``decision`` is the check's own Decision object."""

    check: str
    verdict: Verdict
    code: str
    reason: str
    rule: str
    max_quantity: Decimal | None
    decision: Decision

    @classmethod
    def of(cls, check: str, d: Decision) -> CheckVerdict:
        if isinstance(d, Allow):
            return cls(check, Verdict.ALLOW, "", d.note, d.rule or check, None, d)
        if isinstance(d, Deny):
            return cls(check, Verdict.DENY, d.code, d.reason, d.rule or check, None, d)
        return cls(check, Verdict.REDUCE, d.code, d.reason, d.rule or check, d.max_quantity, d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"check", "verdict"}`` plus ``code``/``reason`` for a deny or a
        reduce, ``note`` for an allow that has one, ``max_quantity`` (a string) for a reduce."""
        e: dict[str, Any] = {"check": self.check, "verdict": self.verdict.value}
        if self.verdict is Verdict.ALLOW:
            if self.reason:
                e["note"] = self.reason
            return e
        e["code"] = self.code
        e["reason"] = self.reason
        if self.max_quantity is not None:
            e["max_quantity"] = str(self.max_quantity)
        return e


@dataclass(frozen=True, slots=True)
class GateResult:
    """``decision``: the first Deny; else the tightest Reduce; else Allow.
    ``pairs``: (check name, Decision) for every check, in the order run (the shape
    ``OrderManager`` journals); ``verdicts``: the same as :class:`CheckVerdict` records,
    built on first access so the gate's hot path does not pay for them."""

    decision: Decision
    pairs: tuple[tuple[str, Decision], ...]
    _verdicts: tuple[CheckVerdict, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def verdicts(self) -> tuple[CheckVerdict, ...]:
        if self._verdicts is None:
            object.__setattr__(
                self, "_verdicts", tuple(CheckVerdict.of(n, d) for n, d in self.pairs)
            )
        return self._verdicts  # type: ignore[return-value]

    def to_events(self) -> list[dict[str, Any]]:
        """Plain dicts (JSON-ready) for the order's journal events, one per check."""
        return [v.to_dict() for v in self.verdicts]

    def summary(self) -> dict[str, Any]:
        d = self.decision
        head: dict[str, Any] = {"allowed": self.allowed, "rule": d.rule}
        if isinstance(d, Deny | Reduce):
            head |= {"code": d.code, "reason": d.reason}
        if isinstance(d, Reduce):
            head["max_quantity"] = str(d.max_quantity)
        return head

    def to_dict(self) -> dict[str, Any]:
        """The decision's summary and every verdict, JSON-ready."""
        return self.summary() | {"verdicts": self.to_events()}


class RiskGate:
    """Composes pre-trade checks (default: the ten in :data:`DEFAULT_CHECKS`)."""

    def __init__(self, checks: Sequence[tuple[str, CheckFn]] = DEFAULT_CHECKS) -> None:
        if not checks:
            raise ValueError("a gate without checks would allow everything")
        self._checks = tuple(checks)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self._checks)

    def evaluate(self, proposal: OrderProposal, ctx: RiskContext) -> GateResult:
        pairs: list[tuple[str, Decision]] = []
        first_deny: Deny | None = None
        tightest: Reduce | None = None
        for name, check in self._checks:
            try:
                d = check(proposal, ctx)
            except Exception as e:  # a broken check must refuse, never wave through
                d = Deny("RISK_CHECK_ERROR", f"{type(e).__name__}: {e}", name)
            if isinstance(d, Allow):
                pass
            elif isinstance(d, Deny):
                if first_deny is None:
                    first_deny = d
            elif isinstance(d, Reduce):
                if tightest is None or d.max_quantity < tightest.max_quantity:
                    tightest = d
            else:  # not a Decision at all
                d = Deny("RISK_CHECK_ERROR", f"returned {type(d).__name__}", name)
                first_deny = first_deny or d
            pairs.append((name, d))
        decision: Decision = first_deny or tightest or Allow("gate")
        return GateResult(decision, tuple(pairs))
