"""Prometheus metrics of the daemon (prometheus-client, one registry per daemon so tests and
several daemons in one process do not share counters). Served at ``GET /metrics``.

Latencies come from the journal's own timestamps (``recorded_at_ns``): intent->signed is an
order's OrderInitialized to its TxSigned, signed->mined its TxSigned to TxMined, so they are
the same whichever process wrote the events.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.orders = Gauge("agent_orders", "Orders by state", ["state"], registry=r)
        self.fills = Counter("agent_fills_total", "Fills journaled", registry=r)
        self.intent_to_signed = Histogram(
            "agent_intent_to_signed_seconds", "OrderInitialized -> TxSigned", buckets=_LATENCY,
            registry=r,
        )  # fmt: skip
        self.signed_to_mined = Histogram(
            "agent_signed_to_mined_seconds", "TxSigned -> TxMined", buckets=_LATENCY, registry=r
        )
        self.venue_errors = Counter(
            "agent_venue_errors_total", "Venue and RPC errors", ["venue"], registry=r
        )
        self.venue_latency = Histogram(
            "agent_venue_latency_seconds", "Venue / RPC health probe latency", ["venue"],
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.journal_lag = Histogram(
            "agent_journal_append_lag_seconds", "Event recorded -> seen by the daemon",
            buckets=_LATENCY, registry=r,
        )  # fmt: skip
        self.margin_ratio = Gauge(
            "agent_margin_ratio", "Maintenance / equity per account", ["account"], registry=r
        )
        self.http = Counter(
            "agent_http_requests_total", "API requests", ["route", "status"], registry=r
        )
        self.trading_state = Gauge(
            "agent_trading_state", "1 for the current trading state", ["state"], registry=r
        )

    def set_orders(self, counts: dict[str, int], all_states: Any) -> None:
        for s in all_states:
            self.orders.labels(state=s).set(counts.get(s, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
