"""Foundation integration fixtures: a funded 2-of-3 Safe with the agent module on L1."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.deploy.devworld import DevWorld, deploy_dev_wallet
from agent.wallet.deploy import WalletDeployment


@pytest.fixture(scope="session")
def l1_wallet(world: DevWorld) -> WalletDeployment:
    return deploy_dev_wallet(world, salt=7, usdc=Decimal(5_000_000))
