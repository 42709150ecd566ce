"""The pre-trade risk gate: run every check, keep every verdict, return the first denial.

The OMS calls :meth:`RiskGate.evaluate` before anything is signed and records
:meth:`GateResult.to_events` in the order's events, so the journal shows why an order was
allowed, cut down or refused, check by check. A check that raises is a denial
(``RISK_CHECK_ERROR``), never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.model.decisions import Allow, Decision, Deny, Reduce
from agent.risk.checks import DEFAULT_CHECKS, OrderProposal, RiskContext

CheckFn = Callable[[OrderProposal, RiskContext], Decision]


@dataclass(frozen=True, slots=True)
class GateResult:
    """``decision``: the first Deny; else the tightest Reduce; else Allow.
    ``verdicts``: (check name, decision) for every check, in the order run."""

    decision: Decision
    verdicts: tuple[tuple[str, Decision], ...]

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    def to_events(self) -> list[dict[str, Any]]:
        """Plain dicts (JSON-ready) for the order's journal events, one per check."""
        out: list[dict[str, Any]] = []
        for name, d in self.verdicts:
            if isinstance(d, Allow):
                e: dict[str, Any] = {"check": name, "verdict": "allow"}
                if d.note:
                    e["note"] = d.note
            elif isinstance(d, Deny):
                e = {"check": name, "verdict": "deny", "code": d.code, "reason": d.reason}
            else:
                e = {
                    "check": name,
                    "verdict": "reduce",
                    "code": d.code,
                    "reason": d.reason,
                    "max_quantity": str(d.max_quantity),
                }
            out.append(e)
        return out

    def summary(self) -> dict[str, Any]:
        d = self.decision
        head: dict[str, Any] = {"allowed": self.allowed, "rule": d.rule}
        if isinstance(d, Deny | Reduce):
            head |= {"code": d.code, "reason": d.reason}
        if isinstance(d, Reduce):
            head["max_quantity"] = str(d.max_quantity)
        return head


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
        verdicts: list[tuple[str, Decision]] = []
        first_deny: Deny | None = None
        tightest: Reduce | None = None
        for name, check in self._checks:
            try:
                d = check(proposal, ctx)
            except Exception as e:  # a broken check must refuse, never wave through
                d = Deny("RISK_CHECK_ERROR", f"{type(e).__name__}: {e}", name)
            verdicts.append((name, d))
            if isinstance(d, Allow):
                continue
            if isinstance(d, Deny):
                if first_deny is None:
                    first_deny = d
            elif isinstance(d, Reduce):
                if tightest is None or d.max_quantity < tightest.max_quantity:
                    tightest = d
            else:  # not a Decision at all
                bad = Deny("RISK_CHECK_ERROR", f"returned {type(d).__name__}", name)
                verdicts[-1] = (name, bad)
                first_deny = first_deny or bad
        decision: Decision = first_deny or tightest or Allow("gate")
        return GateResult(decision, tuple(verdicts))
