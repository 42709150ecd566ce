"""Fault injection: configuration, parsing from the CLI, and the request-weight gate.

``--faults latency=50,rate_limit=20,5xx=0.1,ws_drop_after=10,dup_fills,late_fills=200,skew=5000``

| flag                    | effect                                                                    |
|-------------------------|---------------------------------------------------------------------------|
| ``latency=MS``          | every HTTP response and WS message is delayed by MS milliseconds          |
| ``rate_limit=N``        | request weight allowed per window (default: the venue's real limit)       |
| ``rate_window=S``       | the weight window in seconds (default 60, as Binance's REQUEST_WEIGHT 1M) |
| ``ban_after=N``         | requests sent while told to back off (429) before a 418 ban (default 3)   |
| ``ban_s=S``             | how long a ban lasts (default 120)                                        |
| ``5xx=P``               | probability of a 503 instead of handling a request                        |
| ``ws_drop_after=N``     | close every WebSocket after it has carried N server messages              |
| ``dup_fills``           | every user trade / order-fill message is sent twice                       |
| ``late_fills=MS``       | user trade messages are sent MS milliseconds after the order response     |
| ``skew=MS``             | the venue's clock runs MS milliseconds ahead (negative: behind)           |
| ``drop_accept=N``       | the N-th order placement is accepted, then its connection is closed       |
|                         | without a response (what a dropped keep-alive connection looks like)     |
| ``stall_accept=N``      | the N-th order placement is accepted, its response withheld until the     |
|                         | client gives up (a timeout: the other ambiguous outcome)                  |
| ``seed=N``              | seed of the fault dice                                                    |
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, fields, replace

from agent.errors import ValidationError

_ALIASES = {
    "5xx": "error_5xx",
    "skew": "clock_skew_ms",
    "latency": "latency_ms",
    "late_fills": "late_fills_ms",
    "dup_fills": "duplicate_fills",
}


@dataclass(frozen=True, slots=True)
class FaultConfig:
    latency_ms: int = 0
    rate_limit: int = 0  # 0: the venue's own default
    rate_window: float = 60.0
    ban_after: int = 3
    ban_s: float = 120.0
    error_5xx: float = 0.0
    ws_drop_after: int = 0
    duplicate_fills: bool = False
    late_fills_ms: int = 0
    clock_skew_ms: int = 0
    drop_accept: int = 0
    stall_accept: int = 0
    seed: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> FaultConfig:
        """Parse ``k=v,flag,...``; an unknown flag or bad value names itself and the fix."""
        cfg = cls()
        if not spec:
            return cfg
        types = {f.name: f.type for f in fields(cls)}
        changes: dict[str, object] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            key, _, raw = part.partition("=")
            name = _ALIASES.get(key.strip(), key.strip())
            if name not in types:
                known = ", ".join(sorted(set(types) | set(_ALIASES)))
                raise ValidationError("faults", f"unknown fault {key!r}", f"use one of: {known}")
            typ = types[name]
            try:
                if typ in ("bool", bool):
                    value: object = raw.strip().lower() not in ("0", "false", "no") if raw else True
                elif typ in ("int", int):
                    value = int(raw)
                else:
                    value = float(raw)
            except ValueError:
                raise ValidationError(
                    f"faults.{key}", f"{raw!r} is not a number", f"e.g. {key}=10"
                ) from None
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and name != "clock_skew_ms" and value < 0:  # type: ignore[operator]
                raise ValidationError(f"faults.{key}", f"{value} is negative", "use >= 0")
            if name == "error_5xx" and not 0 <= float(value) <= 1:  # type: ignore[arg-type]
                raise ValidationError("faults.5xx", f"{value} is not a probability", "use 0..1")
            changes[name] = value
        return replace(cfg, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class GateVerdict:
    status: int  # 200 pass, 429 slow down, 418 banned
    retry_after_s: int = 0
    used_weight: int = 0


class WeightGate:
    """Binance's request-weight rules: a fixed window of weight; over it a 429 with
    Retry-After; keep sending during the back-off and the client is banned (418)."""

    def __init__(
        self, limit: int, window_s: float, ban_after: int, ban_s: float, clock=time.monotonic
    ) -> None:
        self.limit, self.window_s, self.ban_after, self.ban_s = limit, window_s, ban_after, ban_s
        self.clock = clock
        self._window_start = clock()
        self._used = 0
        self._violations = 0
        self._banned_until = 0.0
        self.count_429 = 0
        self.count_418 = 0

    def _roll(self, now: float) -> None:
        if now - self._window_start >= self.window_s:
            elapsed = int((now - self._window_start) // self.window_s)
            self._window_start += elapsed * self.window_s
            self._used = 0
            self._violations = 0

    def check(self, weight: int) -> GateVerdict:
        now = self.clock()
        if now < self._banned_until:
            self.count_418 += 1
            return GateVerdict(418, max(1, int(self._banned_until - now + 0.999)), self._used)
        self._roll(now)
        retry = max(1, int(self._window_start + self.window_s - now + 0.999))
        if self._used + weight > self.limit:
            # the first 429 of a window is fair warning; requests after it are violations
            self._violations += 1
            if self._violations - 1 > self.ban_after:
                self._banned_until = now + self.ban_s
                self.count_418 += 1
                return GateVerdict(418, int(self.ban_s), self._used)
            self.count_429 += 1
            return GateVerdict(429, retry, self._used)
        self._used += weight
        return GateVerdict(200, 0, self._used)


class CreditGate:
    """Deribit's credit-based rate limit: every request costs ``cost`` credits from a pool of
    at most ``max_credits`` that refills continuously at ``refill_per_s``; a request the pool
    cannot pay is refused (``too_many_requests``, 10028 / HTTP 429), and Deribit never bans.
    The defaults are Deribit's documented non-matching-engine limits: 500 credits a request,
    50,000 at most, 10,000 a second (a burst of 100, then 20 requests a second).
    ``--faults rate_limit=N,rate_window=S`` scale it to a burst of N requests refilled over S
    seconds. Same interface as :class:`WeightGate`."""

    COST = 500

    def __init__(
        self, max_credits: int = 50_000, refill_per_s: float = 10_000.0, clock=time.monotonic
    ) -> None:
        self.max_credits, self.refill_per_s, self.clock = max_credits, refill_per_s, clock
        self._credits = float(max_credits)
        self._at = clock()
        self.count_429 = 0
        self.count_418 = 0  # always 0: Deribit does not ban

    @classmethod
    def from_faults(cls, rate_limit: int, rate_window: float) -> CreditGate:
        if not rate_limit:
            return cls()
        return cls(rate_limit * cls.COST, rate_limit * cls.COST / max(rate_window, 1e-9))

    @property
    def limit(self) -> int:
        """Requests the full pool pays for (kept for the callers of WeightGate.limit)."""
        return self.max_credits // self.COST

    @limit.setter
    def limit(self, value: int) -> None:  # the venue's default already applies
        pass

    def check(self, weight: int = 1) -> GateVerdict:
        now = self.clock()
        self._credits = min(self.max_credits, self._credits + (now - self._at) * self.refill_per_s)
        self._at = now
        need = self.COST * weight
        if self._credits < need:
            self.count_429 += 1
            wait = (need - self._credits) / self.refill_per_s
            return GateVerdict(429, max(1, int(wait + 0.999)), int(self._credits))
        self._credits -= need
        return GateVerdict(200, 0, int(self._credits))


class Dice:
    """Seeded randomness for faults, so a failing run can be replayed."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def hit(self, p: float) -> bool:
        return p > 0 and self._rng.random() < p
