"""The bridge part of scripts/demo: move USDC from the Safe on L1 to the Safe on L2.

``prepare_bridge_demo`` (sync, tooling) deploys the bridge if the manifests lack it and lets
the L1 Safe's module call ``BridgeEscrow.deposit``; ``bridge_usdc_demo`` (async) runs a
relayer (unless one is already running), submits the deposit through the Safe's module via
the bridge venue, and waits for the mint on L2. With ``policy_path`` (the L1 Safe's bound
policy) the module executor checks the deposit with the fund's signing policy before signing
(agent.execution.guarded).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from agent.bridge.deploy import (
    ESCROW_NAME,
    L2_BRIDGE_NAME,
    bridged_name,
    with_bridge,
)
from agent.bridge.process import RelayerSet
from agent.bridge.relayer import RelayerConfig
from agent.chain.rpc import RpcClient
from agent.deploy.devworld import DEPLOYER_KEY, OPERATOR_KEY, RELAYER_KEYS, address_of
from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.execution.guarded import policy_guard
from agent.journal import SqliteJournal
from agent.model import Side, Spot, from_base_units
from agent.signing import LocalSigner
from agent.venues.base import ChildOrder
from agent.venues.bridge.venue import BridgeVenue
from agent.wallet.executor import ModuleExecutor

RELAYER_THRESHOLD = 2  # 2-of-3 dev relayers (dev keys 6-8)


@dataclass(frozen=True, slots=True)
class BridgeDemoResult:
    symbol: str
    amount: Decimal  # gross, left the L1 Safe
    fee: Decimal
    received: Decimal  # minted to the L2 Safe
    l1_tx: str
    l2_tx: str
    message_id: str
    elapsed_s: Decimal  # L1 submit -> L2 mint observed
    l2_balance: Decimal  # the L2 recipient's bridged balance afterwards
    threshold: int
    relayers: int

    def lines(self) -> list[str]:
        return [
            f"bridged {self.amount:,f} {self.symbol} L1 -> L2: fee {self.fee:,f}, "
            f"received {self.received:,f} {self.symbol}.b in {self.elapsed_s:.3f}s "
            f"({self.threshold}-of-{self.relayers} relayer signatures)",
            f"  L1 deposit {self.l1_tx}",
            f"  L2 mint    {self.l2_tx}",
            f"  message    {self.message_id}; L2 Safe now holds {self.l2_balance:,f} {self.symbol}.b",
        ]


def prepare_bridge_demo(
    *,
    l1_url: str,
    l2_url: str,
    l1: Manifest,
    l2: Manifest,
    deployer_key: str = DEPLOYER_KEY,
) -> tuple[Manifest, Manifest]:
    """Deploy the bridge if absent (bring_up deploys it; returns manifests with its names).
    Deposits are allowed by the Safe's policy (agent/deploy/policies/l1.toml)."""
    return with_bridge(
        Transactor(l1_url, deployer_key), Transactor(l2_url, deployer_key), l1, l2,
        [address_of(k) for k in RELAYER_KEYS], RELAYER_THRESHOLD,
    )  # fmt: skip


async def bridge_usdc_demo(
    *,
    l1_url: str,
    l2_url: str,
    l1: Manifest,
    l2: Manifest,
    safe: str,
    module: str,
    recipient: str,
    journal_path: Path,
    amount: Decimal = Decimal(250_000),
    symbol: str = "USDC",
    operator_key: str = OPERATOR_KEY,
    run_relayer: bool = True,
    timeout: float = 30.0,
    client_order_id: str | None = None,
    policy_path: Path | None = None,
) -> BridgeDemoResult:
    """Bridge ``amount`` of ``symbol`` from the L1 Safe to ``recipient`` on L2, through the
    Safe's module, and wait for the mint. Starts the dev relayer set (one process per relayer
    key, logs and journals next to ``journal_path``) unless told relayers run."""
    journal = SqliteJournal(journal_path)
    l1_rpc = await RpcClient(l1_url, expected_chain_id=l1.chain_id, name=l1.name).connect()
    l2_rpc = await RpcClient(l2_url, expected_chain_id=l2.chain_id, name=l2.name).connect()
    relayers: RelayerSet | None = None
    venue: BridgeVenue | None = None
    try:
        if run_relayer:  # n relayer processes, one key each; k of them sign each message
            base = RelayerConfig(
                l1_url, l2_url, l1.address(ESCROW_NAME), l2.address(L2_BRIDGE_NAME),
                relayer_keys=(RELAYER_KEYS[0],), l1_from_block=await l1_rpc.block_number(),
                l2_from_block=await l2_rpc.block_number(),
            )  # fmt: skip
            relayers = RelayerSet(base, RELAYER_KEYS, journal_path.parent / "relayers")
            await asyncio.to_thread(relayers.start)
        signer = LocalSigner(operator_key)
        guard = None
        if policy_path is not None:
            guard = policy_guard(policy_path, l1, rpc=l1_rpc, safe=safe, operator=signer.address)
        executor = ModuleExecutor(
            l1_rpc, signer, module=module, multisend=l1.address("MultiSendCallOnly"),
            chain_id=l1.chain_id, journal=journal, guard=guard,
        )  # fmt: skip
        venue = await BridgeVenue(
            l1_rpc=l1_rpc, l2_rpc=l2_rpc, l1=l1, l2=l2, executor=executor, safe=safe,
            recipient=recipient, journal=journal, l1_block_time=Decimal("0.05"),
            l2_block_time=Decimal("0.05"),
        ).connect()  # fmt: skip
        coid = client_order_id or f"demo-bridge-{time.time_ns()}"
        ref = await venue.submit(ChildOrder(coid, Spot(symbol, symbol), Side.SELL, amount))
        tr = await venue.wait(ref, timeout)
        token = l1.token(symbol)
        bal_raw = await l2_rpc.call(
            "eth_call",
            [
                {
                    "to": l2.address(bridged_name(symbol)),
                    "data": "0x70a08231" + "00" * 12 + recipient[2:].lower(),
                },
                "latest",
            ],
        )
        threshold = await venue.call_view(venue.escrow, "threshold")
        count = await venue.call_view(venue.escrow, "relayerCount")

        def dec(units: int) -> Decimal:
            return from_base_units(units, token.decimals)

        return BridgeDemoResult(
            symbol=token.symbol, amount=dec(tr.amount_in), fee=dec(tr.fee),
            received=dec(tr.amount_out), l1_tx=tr.source_tx, l2_tx=tr.dest_tx or "",
            message_id=tr.message_id, elapsed_s=Decimal(str(round(tr.elapsed or 0.0, 3))),
            l2_balance=dec(int(bal_raw, 16)), threshold=int(threshold), relayers=int(count),
        )  # fmt: skip
    finally:
        if relayers is not None:
            await asyncio.to_thread(relayers.stop)
        if venue is not None:
            await venue.close()
        await l1_rpc.close()
        await l2_rpc.close()
        journal.close()
