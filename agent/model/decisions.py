"""The verdict of a risk check or a policy rule: Allow, Deny(code, reason), or Reduce(max).

Shared by agent.risk and agent.policy so that the OMS treats both alike: a Deny becomes an
``OrderDenied`` event carrying ``code`` (stable, machine-readable), ``rule`` (which check or
rule fired) and ``reason`` (what a person should do about it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypeVar


@dataclass(frozen=True, slots=True)
class Allow:
    rule: str = ""
    note: str = ""

    @property
    def allowed(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Deny:
    code: str
    reason: str
    rule: str = ""

    @property
    def allowed(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Reduce:
    """Allowed only up to ``max_quantity`` (same unit as the proposal's size)."""

    max_quantity: Decimal
    reason: str
    rule: str = ""
    code: str = "REDUCE"

    @property
    def allowed(self) -> bool:
        return False


Decision = Allow | Deny | Reduce

P_contra = TypeVar("P_contra", contravariant=True)
C_contra = TypeVar("C_contra", contravariant=True)


class Check(Protocol[P_contra, C_contra]):
    """A risk check or policy rule: a pure function of a proposal and a context."""

    def __call__(self, proposal: P_contra, ctx: C_contra, /) -> Decision: ...
