"""Fixtures: the routing world's funded Safe and the exchange simulator (its seeded book) in a
thread, shared with the order tests."""

from __future__ import annotations

from tests.integration.routing_exec.conftest import route_wallet  # noqa: F401
from tests.integration.routing_exec.test_order_cli import sim_url  # noqa: F401
