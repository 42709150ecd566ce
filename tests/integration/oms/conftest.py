"""OMS integration fixtures: a funded 2-of-3 Safe with its PolicyModule on L1 (own salt, so
it is not the foundation tests' Safe), and a builder for the swap app over it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.bootstrap import SwapApp, build_swap_app
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    OPERATOR_KEY,
    DevWorld,
    address_of,
    deploy_dev_wallet,
)
from agent.deploy.transactor import Transactor
from agent.wallet.deploy import WalletDeployment


@pytest.fixture(scope="session")
def oms_wallet(world: DevWorld) -> WalletDeployment:
    return deploy_dev_wallet(world, salt=41, usdc=Decimal(5_000_000))


@pytest.fixture
async def make_app(world: DevWorld, oms_wallet: WalletDeployment, tmp_path: Path) -> Any:
    apps: list[SwapApp] = []

    async def make(**kw: Any) -> SwapApp:
        kw.setdefault("journal_path", tmp_path / "journal.sqlite")
        app = await build_swap_app(
            rpc_url=world.devnets.l1.rpc_url, manifest=world.l1, safe=oms_wallet.safe,
            module=oms_wallet.module, operator_key=OPERATOR_KEY, **kw,
        )  # fmt: skip
        apps.append(app)
        return app

    yield make
    for a in apps:
        await a.close()


def balance(world: DevWorld, symbol: str, who: str) -> int:
    tx = Transactor(world.devnets.l1.rpc_url, DEPLOYER_KEY)
    return tx.call("DevToken", world.l1.token(symbol).address, "balanceOf", who)


def operator_nonce(world: DevWorld) -> int:
    return int(
        world.devnets.l1.rpc("eth_getTransactionCount", address_of(OPERATOR_KEY), "latest"), 16
    )
