"""Service fixtures: a funded dev Safe of its own (salt 47), the agent.toml ``agent devnet up``
would write for it (API on port 0), its secrets in the environment, and a started daemon."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.deploy.devworld import GUARDIAN_KEY, DevWorld, address_of, deploy_dev_wallet
from agent.service.devconfig import read_env, write_dev_config
from agent.wallet.deploy import WalletDeployment


@pytest.fixture(scope="session")
def svc_wallet(world: DevWorld) -> WalletDeployment:
    return deploy_dev_wallet(
        world, salt=47, usdc=Decimal(5_000_000), guardian=address_of(GUARDIAN_KEY)
    )


@pytest.fixture
def svc_config(
    world: DevWorld, svc_wallet: WalletDeployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, str]]:
    d = tmp_path / "devnet"
    d.mkdir()
    for src in world.manifest_paths:  # the manifests sit next to the config, as devnet up's do
        (d / src.name).write_text(src.read_text())
    cfg, env_file = write_dev_config(d, world, svc_wallet, api_port=0)
    env = read_env(env_file)
    assert os.stat(env_file).st_mode & 0o077 == 0  # the secrets file is the owner's only
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return cfg, env


@pytest.fixture
async def daemon(svc_config: tuple[Path, dict[str, str]]) -> AsyncIterator[Any]:
    from agent.bootstrap import build_daemon
    from agent.service.config import load

    d = await build_daemon(load(svc_config[0]))
    await d.start()
    try:
        yield d
    finally:
        if not d.draining:
            await d.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def auth(env: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {env[f'AGENT_API_TOKEN_{role.upper()}']}"}


def operator_nonce(world: DevWorld) -> int:
    from agent.deploy.devworld import OPERATOR_KEY

    return int(
        world.devnets.l1.rpc("eth_getTransactionCount", address_of(OPERATOR_KEY), "latest"), 16
    )


TERMINAL = ("filled", "cancelled", "denied", "expired", "rejected")


async def wait_done(
    http: aiohttp.ClientSession, url: str, cid: str, headers: dict[str, str], timeout: float = 120
) -> dict[str, Any]:
    """GET /v1/orders/{cid} until the order is terminal: the daemon executes an order behind
    its 202 (agent/service/intake.py)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        async with http.get(f"{url}/v1/orders/{cid}", headers=headers) as r:
            got = await r.json()
        if got.get("state") in TERMINAL:
            return got
        assert time.monotonic() < deadline, got
        await asyncio.sleep(0.05)  # polling the daemon for the condition itself
