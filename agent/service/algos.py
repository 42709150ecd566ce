"""The daemon's algorithm orders: ``POST /v1/orders`` with ``"algorithm": {"kind": "twap",
...}`` runs the parent through :func:`agent.algos.service.run_parent` over an OrderApp of the
chain's wallet (the router and the one OMS on the daemon's journal). The parameters and the
policy fit are checked before the answer (400 naming the field / 422 naming the window);
the schedule then runs in the background, journaled on ``algo-<parent>`` (a restarted
daemon's resubmit resumes it)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any

from agent.algos.events import algo_stream
from agent.algos.params import AlgoKind, AlgoParams, parse_duration, validate
from agent.errors import AgentError, ValidationError
from agent.model import Side


def params_of(body: Any) -> AlgoParams:
    """The body's algorithm as validated AlgoParams (ValidationError naming the field)."""
    a = body.algorithm
    try:
        kind = AlgoKind(a.kind)
    except ValueError:
        raise ValidationError(
            "algorithm.kind", f"unknown algorithm {a.kind!r}",
            f"use one of: {', '.join(k.value for k in AlgoKind)}",
        ) from None  # fmt: skip
    now = time.time_ns() // 1_000_000

    def dec(name: str) -> Decimal:
        return Decimal(getattr(a, name))

    p = AlgoParams(
        kind=kind, side=Side(body.side), base=body.base.upper(), quote=body.quote.upper(),
        size=Decimal(body.size), start_ms=now,
        horizon_s=parse_duration("algorithm.horizon", a.horizon),
        interval_s=parse_duration("algorithm.interval", a.interval),
        limit_price=None if a.limit is None else Decimal(a.limit),
        deadline_ms=now + parse_duration("algorithm.deadline", a.deadline) * 1000
        if a.deadline else None,
        size_jitter=dec("size_jitter"), time_jitter=dec("time_jitter"),
        min_slice=dec("min_slice"), catch_up=dec("catch_up"),
        participation=dec("participation"), min_rate=dec("min_rate"),
        max_rate=dec("max_rate"), display=dec("display"), lot=Decimal("1e-18"),
        max_slippage_bps=30 if body.max_slippage_bps is None else body.max_slippage_bps,
    )  # fmt: skip
    try:
        return validate(p, now_ms=now)
    except ValidationError as e:
        raise ValidationError(
            "algorithm." + e.field.removeprefix("algo."), e.problem, e.fix, code=e.code
        ) from None


class AlgoOrders:
    """One OrderApp per chain, built on first use; the running parents' tasks."""

    def __init__(self, daemon: Any) -> None:
        self.d = daemon
        self.apps: dict[str, Any] = {}
        self.tasks: dict[str, asyncio.Task[Any]] = {}

    async def _app(self, rt: Any, bd: int = 18, qd: int = 6) -> Any:
        """The slices' OrderApp: the order intake's router (every venue the daemon built: the
        pools, the L2 leg, the exchanges) and a PlanExecutor over the daemon's own module
        executors and chain locks (one TxEngine per operator and chain: a second engine on
        the same key would race it for nonces), its OMS view gating every child with the
        swap pipeline's risk gate. Without an intake (a daemon built without one), an
        OrderApp of the chain's own."""
        intake = self.d.intake
        if intake is not None:
            from types import SimpleNamespace

            async def close() -> None:  # the intake's connections are the daemon's
                return None

            return SimpleNamespace(
                manager=intake.manager, journal=intake.manager.journal,
                routing=intake.routing, executor=intake.make_executor(bd, qd, None), close=close,
            )  # fmt: skip
        if rt.name not in self.apps:
            from agent.bootstrap import ChainAccess, build_order_app

            acc = rt.access  # (ChainAccess fields, operator key), set by build_daemon
            self.apps[rt.name] = await build_order_app(
                l1=ChainAccess(acc["rpc_url"], acc["manifest"], acc["safe"], acc["module"],
                               acc["policy"]),
                operator_key=acc["key"], journal_path=self.d.journal_path,
            )  # fmt: skip
        return self.apps[rt.name]

    async def submit(self, rt: Any, body: Any) -> tuple[int, dict[str, Any]]:
        from agent.algos.service import ScheduleRefusedError, fit
        from agent.algos.wiring import mid_probe, policy_windows, run_algo
        from agent.model import Spot

        p = params_of(body)
        cid = body.client_order_id
        running = self.tasks.get(cid)
        if running is not None and not running.done():
            return 200, {"client_order_id": cid, "status": "duplicate", "stream": algo_stream(cid)}
        acc = rt.access
        m = acc["manifest"]
        bd, qd = m.token(p.base).decimals, m.token(p.quote).decimals
        app = await self._app(rt, bd, qd)
        windows = policy_windows(acc["policy"], m, acc["rpc_url"], acc["module"])
        if windows:  # refused up front, before the answer: nothing is sent
            price = p.limit_price or await mid_probe(app, Spot(p.base, p.quote), p.side, bd)()
            if price is not None:
                try:
                    fit(p, windows, price, stretch=body.algorithm.stretch)
                except ScheduleRefusedError as e:
                    from agent.service.api import ApiError

                    raise ApiError(422, e.code, e.message, "algorithm") from None

        async def go() -> None:
            # a failure is journaled on the algorithm's stream and the slices' orders
            with contextlib.suppress(AgentError):
                await run_algo(
                    app, cid, p, windows=windows, stretch=body.algorithm.stretch,
                    base_decimals=bd, quote_decimals=qd, safe=acc["safe"],
                )  # fmt: skip

        self.tasks[cid] = asyncio.create_task(go(), name=f"algo-{cid}")
        return 202, {
            "client_order_id": cid, "status": "accepted", "algorithm": p.kind.value,
            "stream": algo_stream(cid), "chain": rt.name,
        }  # fmt: skip

    async def close(self) -> None:
        for t in self.tasks.values():
            t.cancel()  # the journal holds where each schedule stands; a resubmit resumes
        for t in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for app in self.apps.values():
            await app.close()
