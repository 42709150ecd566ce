"""The development world: L1 + L2 devnets with everything deployed, and the dev key roles.

``bring_up()`` is what the demo, ``agent devnet up`` and the test session share. A deployed
world can be dumped (anvil_dumpState) and loaded into fresh anvils, which is how a test
session reuses one deployment (see :func:`load_world`).

Dev key roles (anvil's default mnemonic; never use these keys on a real chain):
  0 deployer / token minter   1-3 Safe owners   4 agent operator   5 market maker
  6-8 bridge relayers         9 guardian
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account

from agent.chain.devnet import DEV_KEYS, DevnetPair, start_pair
from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.deploy.world import deploy_world

if TYPE_CHECKING:
    from agent.wallet.deploy import WalletDeployment

DEPLOYER_KEY = DEV_KEYS[0]
OWNER_KEYS = DEV_KEYS[1:4]
OPERATOR_KEY = DEV_KEYS[4]
MARKET_MAKER_KEY = DEV_KEYS[5]
RELAYER_KEYS = DEV_KEYS[6:9]
GUARDIAN_KEY = DEV_KEYS[9]
BRIDGE_THRESHOLD = 2  # k of the 3 dev relayers


def address_of(key: str) -> str:
    return Account.from_key(key).address


@dataclass
class DevWorld:
    devnets: DevnetPair
    l1: Manifest
    l2: Manifest
    state_dir: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def manifest_paths(self) -> tuple[Path, Path]:
        return self.state_dir / "l1.manifest.json", self.state_dir / "l2.manifest.json"

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.l1.save(self.manifest_paths[0])
        self.l2.save(self.manifest_paths[1])
        (self.state_dir / "devnets.json").write_text(
            json.dumps(
                {
                    d.name: {"rpc_url": d.rpc_url, "chain_id": d.chain_id, "pid": d.pid}
                    for d in self.devnets
                },
                indent=2,
            )
        )

    def stop(self) -> None:
        self.devnets.stop()

    def __enter__(self) -> DevWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bring_up(state_dir: Path, progress: Callable[[str], None] = lambda _m: None) -> DevWorld:
    """Start both devnets and deploy the world on each (from real artifacts)."""
    t0 = time.perf_counter()
    progress("starting L1 and L2 devnets")
    pair = start_pair(log_dir=state_dir / "logs")
    t1 = time.perf_counter()
    try:
        manifests = []
        txs = []
        for d, is_l2 in ((pair.l1, False), (pair.l2, True)):
            progress(f"deploying the world on {d.name} (chain {d.chain_id})")
            tx = Transactor(d.rpc_url, DEPLOYER_KEY)
            manifests.append(deploy_world(tx, name=d.name, l2=is_l2))
            txs.append(tx)
        manifests = deploy_protocols(txs[0], txs[1], manifests[0], manifests[1], progress)
    except BaseException:
        pair.stop()
        raise
    t2 = time.perf_counter()
    world = DevWorld(pair, manifests[0], manifests[1], state_dir)
    world.timings = {"devnet_start_s": t1 - t0, "world_deploy_s": t2 - t1}
    world.save()
    return world


def deploy_protocols(
    l1_tx: Transactor,
    l2_tx: Transactor,
    l1: Manifest,
    l2: Manifest,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Manifest]:
    """The protocols beyond the world's DEXes and Safe: the options market (L1, with its dev
    price feeds) and the L1-L2 bridge (2-of-3 dev relayers). Returns both manifests."""
    from agent.bridge.deploy import with_bridge
    from agent.deploy.policy_contracts import deploy_policy_contracts
    from agent.venues.options.deploy import deploy_options

    progress("deploying the options market and the bridge")
    l1 = l1.with_contracts(**deploy_options(l1_tx.rpc_url, DEPLOYER_KEY, l1))
    l1_tx.resync_nonce()
    relayers = [address_of(k) for k in RELAYER_KEYS]
    l1, l2 = with_bridge(l1_tx, l2_tx, l1, l2, relayers, BRIDGE_THRESHOLD)
    progress("deploying the policy module's price feeds and checkers")
    l1 = l1.with_contracts(**deploy_policy_contracts(l1_tx, l1))
    l2 = l2.with_contracts(**deploy_policy_contracts(l2_tx, l2))
    return [l1, l2]


def dump_world(world: DevWorld, into: Path) -> None:
    """Dump both chains' state next to their manifests, for :func:`load_world`."""
    into.mkdir(parents=True, exist_ok=True)
    for d in world.devnets:
        d.dump_state(into / f"{d.name}.state.json")
    world.l1.save(into / "l1.manifest.json")
    world.l2.save(into / "l2.manifest.json")


def load_world(dumped: Path, state_dir: Path) -> DevWorld:
    """Fresh anvils loaded with a dumped world: no redeploy."""
    t0 = time.perf_counter()
    pair = start_pair(
        l1_state=dumped / "l1.state.json", l2_state=dumped / "l2.state.json",
        log_dir=state_dir / "logs",
    )  # fmt: skip
    world = DevWorld(
        pair,
        Manifest.load(dumped / "l1.manifest.json"),
        Manifest.load(dumped / "l2.manifest.json"),
        state_dir,
    )
    world.timings = {"world_load_s": time.perf_counter() - t0}
    world.save()
    return world


def deploy_dev_wallet(
    world: DevWorld,
    *,
    layer: str = "l1",
    salt: int = 0,
    usdc: Decimal = Decimal(0),
    **kw: Any,
) -> WalletDeployment:
    """A 2-of-3 Safe of the dev owners with its PolicyModule (the dev policy, the dev
    operator), optionally funded with ``usdc`` minted by the deployer. ``kw`` goes to
    :func:`agent.wallet.deploy.deploy_wallet` (policy_vars, policy_out, guardian, ...)."""
    from agent.wallet.deploy import deploy_wallet

    chain, manifest = (
        (world.devnets.l1, world.l1) if layer == "l1" else (world.devnets.l2, world.l2)
    )
    tx = Transactor(chain.rpc_url, DEPLOYER_KEY)
    w = deploy_wallet(
        tx, manifest, owners=[address_of(k) for k in OWNER_KEYS], threshold=2,
        operator=address_of(OPERATOR_KEY), owner_keys=list(OWNER_KEYS), salt=salt, **kw,
    )  # fmt: skip
    if usdc:
        a = manifest.asset("USDC")
        tx.transact("DevToken", a.address, "mint", w.safe, a.to_base(usdc))
    return w
