"""Helpers for benchmark suites: timing loops, percentiles and the metric record shape.

A suite is ``bench/suites/<name>.py`` exposing ``run() -> list[dict]`` (sync or async).
Each metric: {"name", "value", "unit", optional "p99", optional "baseline": {"name", "value"},
optional "ratio"}. Where an issue names a baseline it is measured in the same run, because
absolute times on these shared 2-core machines are noisy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def percentile(samples: list[float], q: float) -> float:
    s = sorted(samples)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def sample_us(fn: Callable[[], Any], n: int, warmup: int = 50) -> list[float]:
    """Run ``fn`` n times; return per-call latencies in microseconds."""
    for _ in range(warmup):
        fn()
    out = []
    pc = time.perf_counter_ns
    for _ in range(n):
        t0 = pc()
        fn()
        out.append((pc() - t0) / 1000)
    return out


def latency_metric(
    name: str,
    samples_us: list[float],
    baseline: tuple[str, list[float]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    m: dict[str, Any] = {
        "name": name,
        "value": round(statistics.median(samples_us), 3),
        "unit": "us",
        "p99": round(percentile(samples_us, 99), 3),
    }
    if baseline is not None:
        bname, bs = baseline
        bv = statistics.median(bs)
        m["baseline"] = {"name": bname, "value": round(bv, 3), "p99": round(percentile(bs, 99), 3)}
        m["ratio"] = round(m["value"] / bv, 3) if bv else None
    m.update(extra)
    return m


def rate_metric(
    name: str,
    per_second: float,
    unit: str = "ops/s",
    baseline: tuple[str, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "value": round(per_second, 1), "unit": unit}
    if baseline is not None:
        m["baseline"] = {"name": baseline[0], "value": round(baseline[1], 1)}
        m["ratio"] = round(per_second / baseline[1], 3) if baseline[1] else None
    m.update(extra)
    return m
