"""Foundation integration fixtures: a funded 2-of-3 Safe with the agent module on L1."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.deploy.devworld import DEPLOYER_KEY, OPERATOR_KEY, OWNER_KEYS, DevWorld, address_of
from agent.deploy.transactor import Transactor
from agent.wallet.deploy import WalletDeployment, deploy_wallet


@pytest.fixture(scope="session")
def l1_wallet(world: DevWorld) -> WalletDeployment:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    w = deploy_wallet(
        tx, world.l1, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
        operator=address_of(OPERATOR_KEY), owner_keys=list(OWNER_KEYS), salt=7,
    )  # fmt: skip
    usdc = world.l1.asset("USDC")
    tx.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(Decimal(5_000_000)))
    return w
