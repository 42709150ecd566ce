"""Fixtures: a funded Safe of the algorithm tests' own and the exchange simulator (its seeded
book) in a thread, shared with the order tests.

The Safe is deployed here with a salt of its own: importing the order tests' session fixture
would make a second fixture with the same salt, and the second CREATE2 on a world shared by one
xdist worker (``--dist loadgroup``) reverts."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from agent.deploy.devworld import DevWorld, deploy_dev_wallet
from agent.wallet.deploy import WalletDeployment
from tests.integration.algos.sim_thread import SimThread, sim_thread
from tests.integration.routing_exec.test_order_cli import sim_url  # noqa: F401


@pytest.fixture(scope="session")
def route_wallet(world: DevWorld) -> WalletDeployment:
    return deploy_dev_wallet(world, salt=1525, usdc=Decimal(3_000_000))


@pytest.fixture
def sim() -> Iterator[SimThread]:
    """A fresh simulator per test (its own book, ledger and tape), on its own thread."""
    with sim_thread() as s:
        yield s
