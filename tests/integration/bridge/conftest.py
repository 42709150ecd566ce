"""Bridge fixtures on the shared world devnets: a Safe + module on L1, a Safe on L2, the bridge
deployed (2-of-3 dev relayers, 60 s challenge period), deposits allowlisted on the module.

Everything the module deploys is reverted at its end (both chains), so other test modules see
the world as it was."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from agent.bridge.relayer import RelayerConfig
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
from agent.venues.bridge.demo import prepare_bridge_demo
from agent.wallet.deploy import deploy_safe, deploy_wallet

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

    def relayer_config(self, **kw) -> RelayerConfig:
        base = dict(
            l1_url=self.l1_url,
            l2_url=self.l2_url,
            escrow=self.l1.address("BridgeEscrow"),
            l2_bridge=self.l2.address("BridgeL2"),
            relayer_keys=tuple(RELAYER_KEYS[:THRESHOLD]),
            submitter_key=RELAYER_KEYS[2],
            l1_from_block=self.l1.block,
            l2_from_block=self.l2.block,
        )
        return RelayerConfig(**{**base, **kw})

    def tx(self, chain: str, key: str = DEPLOYER_KEY) -> Transactor:
        return Transactor(self.l1_url if chain == "l1" else self.l2_url, key)


@pytest.fixture(scope="module")
def bridge_world(world: DevWorld) -> Iterator[BridgeWorld]:
    l1d, l2d = world.devnets.l1, world.devnets.l2
    snaps = (l1d.snapshot(), l2d.snapshot())
    try:
        t1 = Transactor(l1d.rpc_url, DEPLOYER_KEY)
        owners = [address_of(k) for k in OWNER_KEYS]
        w = deploy_wallet(
            t1, world.l1, owners=owners, threshold=2, operator=address_of(OPERATOR_KEY),
            owner_keys=list(OWNER_KEYS),
        )  # fmt: skip
        usdc = world.l1.asset("USDC")
        t1.transact("DevToken", usdc.address, "mint", w.safe, usdc.to_base(SAFE_USDC))
        l2_safe = deploy_safe(Transactor(l2d.rpc_url, DEPLOYER_KEY), world.l2, owners, 2, salt=7)
        l1, l2 = prepare_bridge_demo(
            l1_url=l1d.rpc_url, l2_url=l2d.rpc_url, l1=world.l1, l2=world.l2, safe=w.safe,
            module=w.module, owner_keys=list(OWNER_KEYS), threshold=2,
        )  # fmt: skip
        # scan from the bridge's deployment on: earlier blocks hold no bridge events
        l1 = Manifest(l1.chain_id, l1.name, l1d.block_number(), l1.contracts, l1.tokens, l1.pools)
        l2 = Manifest(l2.chain_id, l2.name, l2d.block_number(), l2.contracts, l2.tokens, l2.pools)
        yield BridgeWorld(world, l1, l2, w.safe, w.module, l2_safe, l1d.rpc_url, l2d.rpc_url)
    finally:
        l1d.revert(snaps[0])
        l2d.revert(snaps[1])
