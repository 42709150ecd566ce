"""One parent order under an algorithm, end to end: the policy fit up front, the runner over
the router and the OMS, the execution report at the end. The CLI (`agent trade order
--algo ...`) and the daemon call this; nothing else wires an algorithm."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.algos import policy_fit
from agent.algos import schedule as sched
from agent.algos.events import AlgoStarted, algo_stream
from agent.algos.params import AlgoParams, validate
from agent.algos.report import ExecutionReport, execution_report
from agent.algos.runner import AlgoRunner, Clock, MarketData, SliceSink
from agent.algos.sinks import RoutedSliceSink
from agent.errors import AgentError


class ScheduleRefusedError(AgentError):
    """The schedule does not fit the policy's windows (nothing was sent)."""

    code = "ALGO_SCHEDULE_REFUSED"

    def __init__(self, refusal: policy_fit.FitRefusal) -> None:
        super().__init__(refusal.reason, code=refusal.code)
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class ParentOutcome:
    parent_id: str
    params: AlgoParams
    report: ExecutionReport
    stretched_to_ms: int | None  # the new end when the schedule was stretched to fit
    state: Any  # agent.algos.events.AlgoState


def fit(
    p: AlgoParams,
    windows: list[policy_fit.Window],
    price: Decimal,
    *,
    stretch: bool = False,
    profile: tuple[Decimal, ...] | None = None,
) -> tuple[sched.Slice, ...] | None:
    """Check the schedule against ``windows``: None when it fits as is, the stretched slices
    when ``stretch`` had to move some; raises ScheduleRefusedError naming the window."""
    plan = sched.for_params(p, profile)
    prices = {p.base: price, "USD": price}
    refusal = policy_fit.check(p, plan, windows, prices)
    if refusal is None:
        return None
    if not stretch:
        raise ScheduleRefusedError(refusal)
    moved, still = policy_fit.stretch(p, plan, windows, prices)
    if still is not None:
        raise ScheduleRefusedError(still)
    return moved


async def run_parent(
    app: Any,
    parent_id: str,
    params: AlgoParams,
    *,
    base_decimals: int,
    quote_decimals: int,
    windows: list[policy_fit.Window] | None = None,
    reference_price: Decimal | None = None,
    stretch: bool = False,
    clock: Clock | None = None,
    market: MarketData | None = None,
    mid: Any = None,
    trading_state: Any = None,
    profile: tuple[Decimal, ...] | None = None,
    sink: SliceSink | None = None,
) -> ParentOutcome:
    """``app``: an agent.bootstrap.OrderApp. ``windows``/``reference_price``: the policy's
    allowance windows and a price to project spend with (the fit is skipped without them).
    ``sink``: where slices go (default: the router and the OMS, :class:`RoutedSliceSink`)."""
    resumed = any(
        isinstance(r.event, AlgoStarted) for r in app.journal.read_stream(algo_stream(parent_id))
    )
    # a parent journaled as started is resumed as it was checked then: its deadline may have
    # passed meanwhile, and the runner then completes it with the rest unfilled and the reason
    p = validate(params, now_ms=None if resumed else time.time_ns() // 1_000_000)
    end = None
    moved: tuple[sched.Slice, ...] = ()
    if windows and reference_price is not None and not resumed:
        moved = fit(p, windows, reference_price, stretch=stretch, profile=profile) or ()
        if moved:
            end = moved[-1].due_ms + p.interval_s * 1000
            p = p.stretched((end - p.start_ms) // 1000)
    if sink is None:
        sink = RoutedSliceSink(app, base_decimals=base_decimals, quote_decimals=quote_decimals)
    kw: dict[str, Any] = {"clock": clock, "market": market, "mid": mid, "profile": profile}
    if trading_state is not None:
        kw["trading_state"] = trading_state
    runner = AlgoRunner(app.journal, parent_id, sink, **kw)
    await runner.start(p, end, moved)
    state = await runner.run()
    started = next(
        r.event for r in app.journal.read_stream(algo_stream(parent_id))
        if isinstance(r.event, AlgoStarted)
    )  # fmt: skip
    return ParentOutcome(parent_id, p, execution_report(state, started), end, state)
