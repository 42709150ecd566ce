"""rpc.roundtrip: eth_blockNumber through agent.chain.rpc vs a raw keep-alive aiohttp post.

Baseline (same run, same anvil, interleaved rounds): a bare aiohttp session with one
keep-alive connection posting the same request bytes and reading the body. Goal: ratio <= 1.5.
Also reported: ``rpc.batch10`` (10 calls in one batch, per call) and, for reference,
web3.py's AsyncWeb3 default HTTP provider on the same call.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from agent.chain import devnet
from agent.chain.rpc import RpcClient
from bench.common import latency_metric

ROUNDS = 6
N = 400


async def _sample(fn, n: int) -> list[float]:
    out = []
    pc = time.perf_counter_ns
    for _ in range(n):
        t0 = pc()
        await fn()
        out.append((pc() - t0) / 1000)
    return out


async def run() -> list[dict]:
    node = devnet.start(devnet.DevnetSpec("bench-rpc", devnet.L1_CHAIN_ID))
    try:
        url = node.rpc_url
        body = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))

        async def raw() -> bytes:
            async with session.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as r:
                return await r.read()

        ours: list[float] = []
        bare: list[float] = []
        batch: list[float] = []
        async with RpcClient(url, expected_chain_id=devnet.L1_CHAIN_ID) as rpc:
            calls = [("eth_blockNumber", [])] * 10
            for f in (rpc.block_number, raw):
                await _sample(f, 100)  # warm both connections
            for _ in range(ROUNDS):
                ours += await _sample(rpc.block_number, N)
                bare += await _sample(raw, N)
                batch += [x / 10 for x in await _sample(lambda: rpc.batch(calls), N // 10)]
        await session.close()
        out = [
            latency_metric(
                "rpc.roundtrip", ours, baseline=("aiohttp.raw_keepalive_post", bare), goal_ratio=1.5
            ),
            latency_metric("rpc.batch10_per_call", batch, baseline=("rpc.roundtrip", ours)),
        ]
        try:
            from web3 import AsyncHTTPProvider, AsyncWeb3

            w3 = AsyncWeb3(AsyncHTTPProvider(url))

            async def w3call() -> int:
                return await w3.eth.block_number

            await _sample(w3call, 50)
            ref = await _sample(w3call, N)
            out.append(
                latency_metric(
                    "rpc.web3_default", ref, baseline=("rpc.roundtrip", ours), reference=True
                )
            )
            await w3.provider.disconnect()
        except Exception as e:  # reference only: never fail the suite over it
            out.append(
                {"name": "rpc.web3_default", "value": None, "unit": "us", "error": str(e)[:200]}
            )
        return out
    finally:
        node.stop()


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run()), indent=1))
