"""Bridge fixtures on the shared world devnets: a Safe + module on L1, a Safe on L2, the bridge
deployed (2-of-3 dev relayers, 60 s challenge period), deposits allowlisted on the module.
The venue's module executor checks every call with the Safe's bound signing policy before
signing (agent.execution.guarded), as in scripts/demo.

Everything the module deploys is reverted at its end (both chains), so other test modules see
the world as it was."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from agent.bridge.relayer import RelayerConfig, config_for
from agent.chain.rpc import RpcClient
from agent.deploy.devworld import (
    DEPLOYER_KEY,
    OPERATOR_KEY,
    OWNER_KEYS,
    RELAYER_KEYS,
    DevWorld,
    address_of,
)
from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.execution.guarded import policy_guard
from agent.journal import SqliteJournal
from agent.signing import LocalSigner
from agent.venues.bridge import BridgeVenue
from agent.venues.bridge.demo import prepare_bridge_demo
from agent.wallet.deploy import deploy_safe, deploy_wallet
from agent.wallet.executor import ModuleExecutor

THRESHOLD = 2
SAFE_USDC = Decimal(1_000_000)


@dataclass
class BridgeWorld:
    world: DevWorld
    l1: Manifest
    l2: Manifest
    safe: str
    module: str
    l2_safe: str
    l1_url: str
    l2_url: str
    policy_file: Path  # the L1 Safe's bound policy

    def relayer_config(self, **kw) -> RelayerConfig:
        keys = kw.pop("relayer_keys", tuple(RELAYER_KEYS[:THRESHOLD]))
        return config_for(self.l1_url, self.l2_url, self.l1, self.l2, keys, RELAYER_KEYS[2], **kw)

    def tx(self, chain: str, key: str = DEPLOYER_KEY) -> Transactor:
        return Transactor(self.l1_url if chain == "l1" else self.l2_url, key)


@pytest.fixture(scope="module")
def bridge_world(world: DevWorld) -> Iterator[BridgeWorld]:
    l1d, l2d = world.devnets.l1, world.devnets.l2
    snaps = (l1d.snapshot(), l2d.snapshot())
    try:
        t1 = Transactor(l1d.rpc_url, DEPLOYER_KEY)
        owners = [address_of(k) for k in OWNER_KEYS]
        l2_safe = deploy_safe(Transactor(l2d.rpc_url, DEPLOYER_KEY), world.l2, owners, 2, salt=7)
        w = deploy_wallet(
            t1, world.l1, owners=owners, threshold=2, operator=address_of(OPERATOR_KEY),
            owner_keys=list(OWNER_KEYS), policy_vars={"BRIDGE_RECIPIENT": l2_safe},
        )  # fmt: skip
        usdc = world.l1.asset("USDC")
        t1.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(SAFE_USDC))
        l1, l2 = prepare_bridge_demo(
            l1_url=l1d.rpc_url, l2_url=l2d.rpc_url, l1=world.l1, l2=world.l2,
        )  # fmt: skip
        # scan from the bridge's deployment on: earlier blocks hold no bridge events
        l1 = Manifest(l1.chain_id, l1.name, l1d.block_number(), l1.contracts, l1.tokens, l1.pools)
        l2 = Manifest(l2.chain_id, l2.name, l2d.block_number(), l2.contracts, l2.tokens, l2.pools)
        yield BridgeWorld(
            world, l1, l2, w.safe, w.module, l2_safe, l1d.rpc_url, l2d.rpc_url, w.policy_file
        )
    finally:
        l1d.revert(snaps[0])
        l2d.revert(snaps[1])


@pytest.fixture
async def venue(bridge_world, tmp_path):
    bw = bridge_world
    journal = SqliteJournal(tmp_path / "venue.sqlite")
    l1 = await RpcClient(bw.l1_url, expected_chain_id=bw.l1.chain_id).connect()
    l2 = await RpcClient(bw.l2_url, expected_chain_id=bw.l2.chain_id).connect()
    signer = LocalSigner(OPERATOR_KEY)
    guard = policy_guard(bw.policy_file, bw.l1, rpc=l1, safe=bw.safe, operator=signer.address)
    ex = ModuleExecutor(
        l1,
        signer,
        module=bw.module,
        multisend=bw.l1.address("MultiSendCallOnly"),
        chain_id=bw.l1.chain_id,
        journal=journal,
        guard=guard,
    )
    v = await BridgeVenue(
        l1_rpc=l1, l2_rpc=l2, l1=bw.l1, l2=bw.l2, executor=ex, safe=bw.safe,
        recipient=bw.l2_safe, journal=journal, from_block=0,
    ).connect()  # fmt: skip
    yield v
    await v.close()
    await l1.close()
    await l2.close()
    journal.close()
