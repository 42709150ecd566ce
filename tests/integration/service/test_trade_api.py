"""`agent trade swap --api URL`: the order goes to the running daemon (its chain, Safe,
journal and policy), a denial is exit 3 with its code, a missing chain flag without --api is
one line naming it."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import aiohttp
import pytest

from .conftest import auth

pytestmark = pytest.mark.integration


async def agent(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", *args, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(p.communicate(), 120)
    return p.returncode or 0, out.decode(), err.decode()


SWAP = ("trade", "swap", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", "0.5")


async def test_trade_swap_through_the_daemon(
    daemon: Any, http: aiohttp.ClientSession, svc_config: Any, l1_isolated: None
) -> None:
    env = svc_config[1]
    code, out, err = await agent(*SWAP, "--client-id", "cli-1", "--api", daemon.url)
    assert code == 0, err
    assert "order cli-1: filled on router:" in out, out  # routed, executed behind the 202
    daemon.manager.sync()
    assert daemon.manager.store.get("cli-1").state.value == "filled"
    async with http.post(
        daemon.url + "/v1/halt", json={"reason": "drill"}, headers=auth(env, "admin")
    ) as r:
        assert r.status == 200
    code, out, err = await agent(*SWAP, "--client-id", "cli-2", "--api", daemon.url)
    assert code == 3 and "denied: [TRADING_HALTED]" in err, (out, err)
    code, out, err = await agent(
        *SWAP, "--client-id", "cli-3", "--api", daemon.url,
        env={"AGENT_API_TOKEN_TRADE": env["AGENT_API_TOKEN_READ"]},
    )  # fmt: skip
    assert code != 0 and "AUTH_FORBIDDEN" in err and err.count("\n") == 1, err


async def test_trade_swap_without_api_names_the_missing_flag() -> None:
    code, _, err = await agent(*SWAP, "--client-id", "cli-4")
    assert code == 2 and "--rpc-url: is required; pass --rpc-url or --api URL" in err, err
