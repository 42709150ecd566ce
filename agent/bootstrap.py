"""The composition root: every object the agent runs with is built and wired here, once.

Nothing else constructs clients, journals, signers or venues from configuration; tests and
the demo build through these functions too (with their own arguments), so the wiring that
is tested is the wiring that runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.execution.limits import NotionalLimit
from agent.execution.swap import SwapPipeline
from agent.journal import SqliteJournal
from agent.signing.local import LocalSigner
from agent.venues.uniswap_v2 import UniswapV2Venue
from agent.venues.uniswap_v3 import UniswapV3Venue
from agent.wallet.executor import ModuleExecutor


@dataclass
class SwapApp:
    rpc: RpcClient
    journal: SqliteJournal
    pipeline: SwapPipeline
    signer: LocalSigner

    async def close(self) -> None:
        await self.rpc.close()
        self.journal.close()


async def build_swap_app(
    *,
    rpc_url: str,
    manifest: Manifest,
    safe: str,
    module: str,
    operator_key: str,
    journal_path: Path,
    max_notional: Decimal = Decimal(1_000_000),
) -> SwapApp:
    rpc = await RpcClient(
        rpc_url, expected_chain_id=manifest.chain_id, name=manifest.name
    ).connect()
    journal = SqliteJournal(journal_path)
    signer = LocalSigner(operator_key)
    executor = ModuleExecutor(
        rpc, signer, module=module, multisend=manifest.address("MultiSendCallOnly"),
        chain_id=manifest.chain_id, journal=journal,
    )
    venues = [UniswapV2Venue(rpc, manifest), UniswapV3Venue(rpc, manifest)]
    pipeline = SwapPipeline(
        rpc=rpc, manifest=manifest, venues=venues, executor=executor, journal=journal,
        safe=safe, limit=NotionalLimit(max_notional),
    )  # fmt: skip
    return SwapApp(rpc, journal, pipeline, signer)
