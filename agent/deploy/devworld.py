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
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account

from agent.chain.devnet import DEV_KEYS, DevnetPair, start_pair
from agent.deploy.manifest import Manifest, TokenInfo
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
        manifests = deploy_routing_world(txs[0], txs[1], manifests[0], manifests[1], progress)
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


# --- liquidity worth routing (issue 15) -------------------------------------------------------
def deploy_routing_world(
    l1_tx: Transactor,
    l2_tx: Transactor,
    l1: Manifest,
    l2: Manifest,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Manifest]:
    """More L1 depth (the 1 % tier, wider and narrower ranges, a deeper V2 pair) and, on the L2,
    a V3 pool of the bridge's tokens seeded with inventory that really crossed the bridge (L1
    escrow deposit, 2-of-3 relayer attestation, L2 mint). Returns both manifests; the L2 pool is
    ``v3:WETH.B/USDC.B/500`` (the bridged tokens' manifest keys)."""
    from agent.deploy.world import (
        L2_BRIDGED_V3,
        WETH_USD,
        _with_pools,
        add_v3_pool,
        deploy_routing_liquidity,
    )

    progress("routing liquidity (L1 tiers, V2 depth, the L2 bridged pool)")
    l1_tx.resync_nonce()
    l1 = deploy_routing_liquidity(l1_tx, l1)
    l2_tx.resync_nonce()
    pools = dict(l2.pools)
    npm = l2.address("NonfungiblePositionManager")
    for a, b, fee, ranges in L2_BRIDGED_V3:
        usd = {"WETH": WETH_USD, "USDC": Fraction(1)}
        need = {s: sum(int(Fraction(u) / usd[s] * 10 ** l1.token(s).decimals) + 1
                       for _w, u in ranges) for s in (a, b)}  # fmt: skip
        toks = {}
        for sym, amount in need.items():
            toks[sym] = bridge_deposit(
                l1_tx, l2_tx, l1, l2, sym, amount, l2_tx.address, gross=False
            )
            l2_tx.transact("BridgedToken", toks[sym].address, "approve", npm, 2**256 - 1)
        pools[f"v3:{a}.B/{b}.B/{fee}"] = add_v3_pool(
            l2_tx, l2.contracts, toks[a], toks[b], usd[a] / usd[b], fee, ranges
        )
    l2 = _with_pools(l2, pools, int(l2_tx.rpc("eth_blockNumber"), 16))
    # the bridged tokens as tokens of the L2 (their on-chain symbols, WETH.b -> key WETH.B), so
    # policies can cap and route them like any other token
    bridged = {f"{s}.B": TokenInfo(f"{s}.B", l2.address(f"Bridged{s}"), l1.token(s).decimals)
               for s in l1.tokens}  # fmt: skip
    l2 = Manifest(l2.chain_id, l2.name, l2.block, l2.contracts, {**l2.tokens, **bridged}, l2.pools)
    return [l1, l2]


def bridge_deposit(
    l1_tx: Transactor,
    l2_tx: Transactor,
    l1: Manifest,
    l2: Manifest,
    symbol: str,
    amount: int,
    recipient: str,
    *,
    gross: bool = True,
) -> TokenInfo:
    """Bridge ``amount`` base units of the L1 token ``symbol`` to ``recipient`` on the L2 the
    way the relayers do (deposit into the escrow, 2-of-3 dev relayers attest, finalize on L2),
    minted or wrapped first by the deployer. ``gross=False``: ``amount`` is what arrives (the
    bridge fee is added on top). Returns the bridged token on the L2."""
    from agent.bridge.messages import Deposit, attest, l2_domain, pack
    from agent.signing.local import LocalSigner

    escrow, bridge = l1.address("BridgeEscrow"), l2.address("BridgeL2")
    fee_bps = l1_tx.call("BridgeEscrow", escrow, "feeBps")
    if not gross:  # smallest gross whose net (gross - floor(gross*fee/1e4)) covers amount
        g = -(-amount * 10_000 // (10_000 - fee_bps))
        while g - g * fee_bps // 10_000 < amount:
            g += 1
        amount = g
    t = l1.token(symbol)
    if symbol == "WETH":
        bal = int(l1_tx.rpc("eth_getBalance", l1_tx.address, "latest"), 16)
        l1_tx.rpc("anvil_setBalance", l1_tx.address, hex(bal + amount))
        l1_tx.transact("WETH9", t.address, "deposit", value=amount)
    else:
        l1_tx.transact("DevToken", t.address, "mint", l1_tx.address, amount)
    l1_tx.transact(
        "WETH9" if symbol == "WETH" else "DevToken", t.address, "approve", escrow, amount
    )
    nonce = l1_tx.call("BridgeEscrow", escrow, "depositNonce")
    net = amount - l1_tx.call("BridgeEscrow", escrow, "feeFor", amount)
    l1_tx.transact("BridgeEscrow", escrow, "deposit", t.address, recipient, amount)
    d = Deposit(l1.chain_id, escrow, t.address, l1_tx.address, recipient, net, nonce)
    relayers = [LocalSigner(k) for k in RELAYER_KEYS[:BRIDGE_THRESHOLD]]
    sigs = pack(attest(l2_domain(l2.chain_id, bridge), d, relayers))
    l2_tx.transact("BridgeL2", bridge, "finalizeDeposit", d.as_tuple(), sigs)
    name = f"Bridged{symbol}"
    return TokenInfo(name, l2.address(name), t.decimals)


# --- the CEX book around the same price (issue 15) ---------------------------------------------
CEX_SYMBOL = "ETHUSDC"  # ccxt: ETH/USDC; the agent's WETH/USDC on the CEX
CEX_MID = Decimal(3000)
CEX_LEVELS = 40  # per side
CEX_FIRST_BPS = Decimal(5)  # best ask/bid this far from mid
CEX_STEP_BPS = Decimal("2.5")
CEX_LEVEL_SIZE = Decimal(4)  # ETH per level: 160 ETH a side, 5..102.5 bp from mid
CEX_MAKER = "__world_mm__"


def routing_instruments() -> list[Any]:
    """The Binance simulator's spot list plus ETH/USDC (taker fee 5 bp), the pair the world's
    pools trade."""
    from agent.exchange_sim.instruments import SimInstrument, SimKind, default_spot

    eth_usdc = SimInstrument(
        CEX_SYMBOL, SimKind.SPOT, "ETH", "USDC", Decimal("0.01"), Decimal("0.0001"),
        Decimal("0.0001"),
    )  # fmt: skip
    return [*default_spot(), eth_usdc]


def routing_sim_config(**kw: Any) -> Any:
    """A Binance simulator with a STATIC book (no synthetic flow: a plan made from the book is
    what a taker gets), seeded by :func:`seed_routing_book` once started."""
    from agent.exchange_sim.server import SimConfig

    kw.setdefault("flow", None)
    kw.setdefault("instruments", tuple(routing_instruments()))
    kw.setdefault("start_prices", {"BTC": Decimal(90_000), "ETH": CEX_MID})
    return SimConfig(venue="binance", **kw)


def seed_routing_book(sim: Any, *, mid: Decimal = CEX_MID) -> list[tuple[Decimal, Decimal]]:
    """Rest :data:`CEX_LEVELS` asks and bids of :data:`CEX_LEVEL_SIZE` ETH around ``mid`` on
    the simulator's ETH/USDC book (a maker account of its own). Returns the asks (price, size)."""
    from agent.model import Side

    ex = sim.exchange
    tick = ex.instrument(CEX_SYMBOL).tick
    total = CEX_LEVEL_SIZE * CEX_LEVELS
    ex.ledger.deposit(CEX_MAKER, "ETH", total)
    ex.ledger.deposit(CEX_MAKER, "USDC", total * mid * 2)
    asks = []
    for i in range(CEX_LEVELS):
        off = (CEX_FIRST_BPS + CEX_STEP_BPS * i) / Decimal(10_000)
        ask = (mid * (1 + off) / tick).to_integral_value() * tick
        bid = (mid * (1 - off) / tick).to_integral_value() * tick
        ex.place(CEX_MAKER, CEX_SYMBOL, Side.SELL, CEX_LEVEL_SIZE, ask, post_only=True)
        ex.place(CEX_MAKER, CEX_SYMBOL, Side.BUY, CEX_LEVEL_SIZE, bid, post_only=True)
        asks.append((ask, CEX_LEVEL_SIZE))
    return asks


# the L2 Safe that trades the bridge's tokens (routed orders' L2 legs): its policy template
L2_TRADING_POLICY = Path(__file__).resolve().parent / "policies" / "l2-trading.toml"
