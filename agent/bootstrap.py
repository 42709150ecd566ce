"""The composition root: every object the agent runs with is built and wired here, once.

Nothing else constructs clients, journals, signers or venues from configuration; tests and
the demo build through these functions too (with their own arguments), so the wiring that
is tested is the wiring that runs.

``build_swap_app`` also RECOVERS: it rebuilds the order state from the journal, starts the
tx engine (which replays its stream, re-broadcasts journaled transactions and reads their
receipts), then derives the order events the chain implies (fills of swaps mined while the
agent was down; orders whose fate is unknown stay UNKNOWN). Only then does it take intents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.execution.risk import SwapRisk
from agent.execution.swap import RouteCheck, SwapPipeline
from agent.execution.tracking import TrackReport, track
from agent.journal import SqliteJournal
from agent.journal.stores import is_postgres, open_store
from agent.oms.manager import OrderManager
from agent.risk.checks import RiskLimits
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
    manager: OrderManager
    executor: ModuleExecutor
    recovery: TrackReport | None = None
    policy: Any = None  # the off-chain signing policy guard, if one was loaded

    async def track(self) -> TrackReport:
        """One tracking pass (receipts, confirmations, reorgs -> order events). Call it
        between intents, not while one is executing."""
        p = self.pipeline
        return await track(self.manager, self.executor, p.manifest, p.safe)

    async def close(self) -> None:
        try:
            await self.executor.close()
        finally:
            await self.rpc.close()
            self.journal.close()


def default_limits(max_notional: Decimal) -> RiskLimits:
    """Desk limits when none are configured: the notional cap, the risk package's defaults
    for price band (500 bps) and slippage (100 bps), no position or venue caps."""
    return RiskLimits(max_order_notional=max_notional)


def load_policy_guard(
    policy_path: Path,
    manifest: Manifest,
    *,
    safe: str,
    operator: str,
    rpc: RpcClient,
    fallback: Any = None,
) -> Any:
    """The fund's signing policy as the executor's pre-sign guard (agent.policy.guard), built
    by agent.execution.guarded.policy_guard: reference prices from the manifest's oracles
    (``PriceFeed<SYM>``), ``fallback`` only for symbols without a feed; allowance balances
    and the pause flag read from the module on chain."""
    from agent.execution.guarded import policy_guard

    return policy_guard(
        policy_path, manifest, rpc=rpc, safe=safe, operator=operator, fallback=fallback
    )


# below this many records the trade path also re-hashes the whole journal on open (~4 ms
# CPU per 1,000 records, bench journal.verify full_cpu_ms): old records edited in place are
# then caught too, not only by `agent journal verify`
FULL_VERIFY_BELOW = 10_000


def open_trusted_journal(path: Path, operator_key: str | None) -> Any:  # -> Store
    """The signing path's journal, verified before anything is read from it: from its MAC'd
    checkpoint (keyed by the operator key) when the key is local, else (a remote or
    threshold signer: no key in this process) by the full walk. A journal whose chain does
    not verify is refused, since an order missing from it would be executed again
    (JOURNAL_TAMPERED)."""
    from agent.errors import JournalTamperedError
    from agent.signing.local import _parse_key  # the key's one parser (never echoes it)

    secret = _parse_key("operator_key", operator_key) if operator_key else None
    journal: Any
    if is_postgres(path):  # shared by several daemons: no MAC'd checkpoint, the full walk
        journal, secret = open_store(path), None
    else:
        journal = SqliteJournal(path, checkpoint_secret=secret)
    try:
        rep = (
            journal.verify_incremental(full_below=FULL_VERIFY_BELOW)
            if secret is not None
            else journal.verify()
        )
    except BaseException:
        journal.close()
        raise
    if not rep.ok:
        journal.close()
        assert rep.finding is not None
        raise JournalTamperedError(
            f"journal {path}: {rep.finding.describe()}; nothing was signed: restore the "
            "journal from a backup (or move it aside and reconcile with the chain) before "
            "trading again"
        )
    return journal


async def build_swap_app(
    *,
    rpc_url: str,
    manifest: Manifest,
    safe: str,
    module: str,
    operator_key: str,
    journal_path: Path,
    max_notional: Decimal = Decimal(1_000_000),
    limits: RiskLimits | None = None,
    policy_path: Path | None = None,
    signer: Any = None,
    simulation: str | None = None,
    venue_kinds: frozenset[str] | None = None,
    cosigner_url: str | None = None,
) -> SwapApp:
    """``policy_path``: the fund's signing-policy file, checked off-chain on every built
    transaction before signing; None = no off-chain policy (the on-chain module still
    enforces its own configuration).

    ``signer``: the operator's Signer if not the local ``operator_key`` (e.g. a
    ``agent.signing.threshold.ThresholdSigner``: the engine awaits it under its timeout).
    ``simulation``: "trace", "fallback" or "call" to simulate every module call before
    signing (agent.chain.simulate.SimulationGuard, journaled; the policy guard gets its
    deltas); None = off.
    ``cosigner_url`` (default ``$AGENT_COSIGNER_URL``): the role requires a co-signature, so
    every module call goes through that co-signer (agent.signing.cosigner), which re-checks
    and simulates the exact call itself; the local simulation guard is then not used.

    The guard's reference prices (its slippage rule and second-signer notional) are
    INDEPENDENT of the quotes the swap is built from wherever the manifest has an oracle:
    a symbol with a ``PriceFeed<SYM>`` feed is priced by the feed (WETH, WBTC on the dev
    world); only a symbol without one falls back to the median of the venues' own quotes
    (``SwapRisk.prices``, where USD stablecoins count as 1 USD)."""
    if not operator_key and signer is not None and hasattr(signer, "checkpoint_key"):
        operator_key = signer.checkpoint_key()  # a threshold signer: no local operator key
    journal = open_trusted_journal(journal_path, operator_key or None)  # before any network use
    rpc: RpcClient | None = None
    try:
        rpc = RpcClient(rpc_url, expected_chain_id=manifest.chain_id, name=manifest.name)
        await rpc.connect()
    except BaseException:
        if rpc is not None:  # the session it opened (an unreachable node: no leak warning)
            await rpc.close()
        journal.close()
        raise
    try:
        signer = signer or LocalSigner(operator_key)
        risk = SwapRisk(limits or default_limits(max_notional))
        guard = None
        if policy_path is not None:  # oracle prices; the quote median only where none
            guard = load_policy_guard(
                policy_path, manifest, safe=safe, operator=signer.address, rpc=rpc,
                fallback=risk.prices,
            )  # fmt: skip
        pre_sign = guard
        cosigner_url = cosigner_url or os.environ.get("AGENT_COSIGNER_URL") or None
        if simulation is not None and cosigner_url is None:
            from agent.chain.simulate import SimulationGuard

            pre_sign = SimulationGuard(
                rpc, operator=signer.address, module=module, safe=safe, mode=simulation,  # type: ignore[arg-type]
                multisend=manifest.address("MultiSendCallOnly"), inner=guard,
                journal=journal, chain_id=manifest.chain_id,
            )  # fmt: skip
        executor = ModuleExecutor(
            rpc, signer, module=module, multisend=manifest.address("MultiSendCallOnly"),
            chain_id=manifest.chain_id, journal=journal, guard=pre_sign,
        )  # fmt: skip
        route = RouteCheck()
        manager = OrderManager.open(journal, checks=[route, risk.check])
        venues = [UniswapV2Venue(rpc, manifest), UniswapV3Venue(rpc, manifest)]
        if venue_kinds is not None:  # the daemon's [venues]: only the kinds configured
            venues = [v for v in venues if v.id.split("@")[0] in venue_kinds]
        pipeline = SwapPipeline(
            rpc=rpc, manifest=manifest, venues=venues, executor=executor, manager=manager,
            safe=safe, risk=risk, route=route,
        )  # fmt: skip
        role = await executor.check_module(safe)  # a module we must not sign for: refused here
        if cosigner_url is not None:
            from agent.signing.cosigner.client import cosigner_client

            executor.cosigner = await cosigner_client(rpc, module, role, cosigner_url)
        # recovery: the engine reconciles the tx stream, then orders follow the chain
        await executor.start()
        recovered = await track(manager, executor, manifest, safe, expire_unsent=True, poll=False)
    except BaseException:
        await rpc.close()
        journal.close()
        raise
    return SwapApp(rpc, journal, pipeline, signer, manager, executor, recovered, guard)


# --- parent orders routed over every venue (issue 15) ----------------------------------------
@dataclass
class ChainAccess:
    """Where the fund's Safe is on one chain, for :func:`build_order_app`."""

    rpc_url: str
    manifest: Manifest
    safe: str
    module: str
    policy_path: Path | None = None
    # the role there requires a co-signature: every module call goes through this co-signer
    # (agent.signing.cosigner), pinned to the module's cosignerOf(role)
    cosigner_url: str | None = None


@dataclass
class OrderApp:
    journal: SqliteJournal
    manager: OrderManager
    executor: Any  # agent.execution.plan.PlanExecutor
    routing: Any  # agent.execution.route.OrderRouting
    closers: list[Any]
    recovered: list[str] = field(default_factory=list)  # parents settled at start-up

    async def close(self) -> None:
        for c in reversed(self.closers):
            await c()
        self.journal.close()


L2_BRIDGED = {"WETH": "WETH.B", "USDC": "USDC.B", "WBTC": "WBTC.B", "DAI": "DAI.B"}


async def build_order_app(
    *,
    l1: ChainAccess,
    operator_key: str,
    journal_path: Path,
    l2: ChainAccess | None = None,
    cex: tuple[tuple[str, str], ...] = (),
    cex_symbol: str | None = None,
    cex_key: tuple[str, str] = ("sim-key", "sim-secret"),
    max_book_age_ms: int = 5_000,
    time_bps_per_min: Decimal = Decimal(0),
    slippage_bps: int = 10,
    max_retries: int = 2,
    venues: tuple[str, ...] = (),
    quote: str = "USDC",
    base_decimals: int = 18,
    quote_decimals: int = 6,
    signer: Any = None,
    simulation: str | None = None,
) -> OrderApp:
    """`agent trade order`'s wiring: per chain one RpcClient, one ModuleExecutor (one TxEngine
    for the operator there, the fund's signing policy as its guard); the exchanges' ccxt
    adapters; the router's sources over those same connections; one journal and one OMS for
    the parent and every child. ``cex``: (exchange id, simulator URL) pairs.

    ``signer`` and ``simulation`` as in :func:`build_swap_app`: the operator's Signer on
    every chain if not the local ``operator_key`` (e.g. a ThresholdSigner), and the
    simulation mode of the SimulationGuard wrapped around each chain's policy guard (the
    plan executor registers each batch's summed legs with it); None = off. A chain whose
    ``cosigner_url`` is set has no local simulation: the co-signer simulates the exact call."""
    from agent.execution.bridged_prices import BridgedPrices
    from agent.execution.guarded import reference_prices
    from agent.execution.plan import ChainWallet, PlanExecutor
    from agent.execution.plan_recovery import recover_plans
    from agent.execution.route import OrderRouting
    from agent.routing.sources import CexSource
    from agent.venues.cex import CexConfig, CexVenue

    journal = SqliteJournal(journal_path)
    closers: list[Any] = []
    try:
        signer = signer or LocalSigner(operator_key)
        wallets: dict[int, ChainWallet] = {}
        rpcs: list[Any] = []
        l1_prices: Any = None  # the L1's oracle prices: the L2 guard's for bridged tokens
        for acc, symbols in ((l1, {}), (l2, L2_BRIDGED)):
            if acc is None:
                rpcs.append(None)
                continue
            m = acc.manifest
            rpc = await RpcClient(acc.rpc_url, expected_chain_id=m.chain_id, name=m.name).connect()
            closers.append(rpc.close)
            rpcs.append(rpc)
            guard = None
            if acc.policy_path is not None:
                fallback = BridgedPrices(l1_prices) if l1_prices is not None else None
                guard = load_policy_guard(
                    acc.policy_path, m, safe=acc.safe, operator=signer.address, rpc=rpc,
                    fallback=fallback,
                )  # fmt: skip
            if l1_prices is None:
                l1_prices = reference_prices(rpc, m)
            pre_sign = guard
            if simulation is not None and acc.cosigner_url is None:
                from agent.chain.simulate import SimulationGuard

                pre_sign = SimulationGuard(
                    rpc, operator=signer.address, module=acc.module, safe=acc.safe,
                    mode=simulation, multisend=m.address("MultiSendCallOnly"), inner=guard,  # type: ignore[arg-type]
                    journal=journal, chain_id=m.chain_id,
                )  # fmt: skip
            ex = ModuleExecutor(
                rpc, signer, module=acc.module, multisend=m.address("MultiSendCallOnly"),
                chain_id=m.chain_id, journal=journal, guard=pre_sign, safe=acc.safe,
                raise_on_revert=False,
            )  # fmt: skip
            closers.append(ex.close)
            if acc.cosigner_url is not None:
                from agent.signing.cosigner.client import cosigner_client

                role = await ex.check_module(acc.safe)
                ex.cosigner = await cosigner_client(rpc, acc.module, role, acc.cosigner_url)
            await ex.start()
            wallets[m.chain_id] = ChainWallet(m, rpc, acc.safe, ex, symbols)
        venues_cex: dict[str, Any] = {}
        sources = []
        for name, url in cex:
            v = await CexVenue.connect(
                CexConfig(name, api_key=cex_key[0], secret=cex_key[1], sim_url=url)
            )
            closers.append(v.close)
            venues_cex[v.id] = v
            sources.append(CexSource(v, cex_symbol, max_book_age_ms))
        routing = await OrderRouting.connect(
            rpcs[0], l1.manifest, l2_rpc=rpcs[1], l2_manifest=l2.manifest if l2 else None,
            time_bps_per_min=time_bps_per_min, cex=sources, l2_symbols=L2_BRIDGED,
            quote=quote, only=venues,
        )  # fmt: skip
        manager = OrderManager.open(journal)
        executor = PlanExecutor(
            manager, chains=wallets, cex=venues_cex, base_decimals=base_decimals,
            quote_decimals=quote_decimals, slippage_bps=slippage_bps, max_retries=max_retries,
        )  # fmt: skip
        # recovery: routed children whose batch was sent before a stop settle from the chain
        recovered = await recover_plans(executor)
    except BaseException:
        for c in reversed(closers):
            await c()
        journal.close()
        raise
    return OrderApp(journal, manager, executor, routing, closers, recovered)


# --- the daemon (agent run --config agent.toml) -----------------------------------------------
async def build_daemon(config: Any) -> Any:
    """The daemon of an ``agent.toml`` (agent.service.config.AgentConfig): every chain's RPC
    checked against its configured chain id (and its manifest's), one swap app per chain
    with a wallet (recovering from the shared journal), the API's tokens from their env vars.
    Nothing is started; ``Daemon.start()`` does that."""
    from agent.errors import ConfigError
    from agent.service.daemon import ChainRuntime, Daemon

    cfg = config
    tokens: dict[str, str] = {}
    for i, t in enumerate(cfg.api.tokens):
        tokens[cfg.secret(t.env, f"api.tokens.{i}.env")] = t.role
    if not tokens:
        raise ConfigError("api.tokens", "no API token configured", "add [[api.tokens]] tables")
    if not cfg.wallets:
        raise ConfigError("wallets", "no wallet configured", "add a [wallets.<chain>] table")
    keys = {
        n: cfg.secret(w.signer_key_env, f"wallets.{n}.signer_key_env")
        for n, w in cfg.wallets.items()
    }
    kinds: dict[str, set[str]] = {n: set() for n in cfg.wallets}
    cex_cfgs = []
    for vid, v in cfg.venues.items():
        if v.kind == "cex":  # credentials by env var name; the simulator's dev key without
            cex_cfgs.append(_cex_config(cfg, vid, v))
            continue
        if v.chain not in kinds:
            raise ConfigError(f"venues.{vid}.chain", f"chain {v.chain!r} has no [wallets] table")
        kinds[v.chain].add(v.kind)
    for n, k in kinds.items():
        if not k:
            raise ConfigError("venues", f"no venue on chain {n!r}", f"add [venues.uniswap_v2_{n}]")
    manifests: dict[str, Manifest] = {}
    for name, ch in cfg.chains.items():
        m = Manifest.load(cfg.resolve(ch.manifest))
        if m.chain_id != ch.chain_id:
            raise ConfigError(
                f"chains.{name}.chain_id",
                f"{ch.chain_id} but the manifest {ch.manifest} is for chain {m.chain_id}",
                "fix chain_id or the manifest path",
            )
        async with RpcClient(ch.rpc_url, name=name) as probe:
            if probe.chain_id != ch.chain_id:  # never trade on a chain the file did not name
                raise ConfigError(
                    f"chains.{name}.rpc_url",
                    f"{ch.rpc_url} reports chain id {probe.chain_id}, not {ch.chain_id}",
                    "point rpc_url at the right node or fix chain_id",
                )
        manifests[name] = m
    journal = cfg.resolve(cfg.journal.path)
    if not is_postgres(journal):
        journal.parent.mkdir(parents=True, exist_ok=True)
    policy = cfg.resolve(cfg.policy.file) if cfg.policy.file is not None else None
    chains: dict[str, ChainRuntime] = {}
    cex: dict[str, Any] = {}
    try:
        for c in cex_cfgs:
            cex[c.id] = await _connect_cex(c)
        for name, w in cfg.wallets.items():
            ch = cfg.chains[name]
            app = await build_swap_app(
                rpc_url=ch.rpc_url, manifest=manifests[name], safe=w.safe, module=w.module,
                operator_key=keys[name], journal_path=journal, limits=cfg.risk.limits(),
                policy_path=policy, venue_kinds=frozenset(kinds[name]),
            )  # fmt: skip
            chains[name] = ChainRuntime(name, ch, app)
            chains[name].access = {  # what an algorithm order's OrderApp is built from
                "rpc_url": ch.rpc_url, "manifest": manifests[name], "safe": w.safe,
                "module": w.module, "policy": policy, "key": keys[name],
            }  # fmt: skip
        daemon = Daemon(cfg, chains, journal, tokens, cex=cex)
        daemon.intake = await build_intake(daemon)
    except BaseException:
        for rt in chains.values():
            await rt.app.close()
        for v in cex.values():
            await v.close()
        raise
    return daemon


async def build_intake(daemon: Any) -> Any:
    """The daemon's order intake (agent.service.intake): the router over every venue the
    daemon built -- the primary wallet's chain (its configured Uniswap kinds), a second
    wallet's chain as the L2 leg when it holds the bridge's tokens, every CEX venue -- and the
    PlanExecutor over the SAME connections and module executors as the swap pipelines (one
    TxEngine per operator and chain, the chain's lock held while a batch is signed and sent),
    on an OMS view of the daemon's journal whose check is the swap pipeline's risk gate for
    every routed child (PlanRisk over the primary pipeline's SwapRisk: the same limits and
    order-rate window)."""
    from agent.execution.guarded import reference_prices
    from agent.execution.plan import ChainWallet, PlanExecutor
    from agent.execution.risk import PlanRisk
    from agent.execution.route import OrderRouting
    from agent.routing.sources import CexSource
    from agent.service.intake import Intake

    cfg = daemon.config
    prim = daemon.primary
    wallets: dict[int, Any] = {}
    locks: dict[int, Any] = {}
    l2: Any = None
    for rt in daemon.chains.values():
        p = rt.app.pipeline
        m = p.manifest
        symbols: dict[str, str] = {}
        if rt is not prim:  # the L2 leg trades the bridge's tokens; else not routed
            if l2 is not None or not all(s in m.tokens for s in L2_BRIDGED.values()):
                continue
            symbols, l2 = dict(L2_BRIDGED), rt
        wallets[m.chain_id] = ChainWallet(m, p.rpc, p.safe, p.executor, symbols)
        locks[m.chain_id] = rt.lock
    kinds = {str(v.kind) for v in cfg.venues.values() if getattr(v, "chain", None)}
    only: tuple[str, ...] = ()
    if not {"uniswap_v2", "uniswap_v3"} <= kinds:  # [venues] names only some pool kinds
        only = (*sorted(kinds), *daemon.cex)
    pm = prim.app.pipeline.manifest
    routing = await OrderRouting.connect(
        prim.app.rpc, pm,
        l2_rpc=l2.app.rpc if l2 else None, l2_manifest=l2.app.pipeline.manifest if l2 else None,
        cex=[CexSource(v, None, 5_000) for v in daemon.cex.values()], l2_symbols=L2_BRIDGED,
        only=only,
    )  # fmt: skip
    risk = PlanRisk(prim.app.pipeline.risk, reference_prices(prim.app.rpc, pm))
    manager = OrderManager.open(prim.app.journal, checks=[risk])

    def make_executor(bd: int, qd: int, bps: int | None) -> Any:
        return PlanExecutor(
            manager, chains=wallets, cex=daemon.cex, base_decimals=bd, quote_decimals=qd,
            slippage_bps=min(cfg.algos.slippage_bps if bps is None else bps, 1_000),
            risk=risk, locks=locks,
        )  # fmt: skip

    return Intake(
        daemon, manager, make_executor, routing, venue=f"router:{prim.app.pipeline.safe.lower()}",
        decimals={s: t.decimals for s, t in pm.tokens.items()},
        max_notional=cfg.risk.max_order_notional, max_queued=cfg.api.max_queued_orders,
    )  # fmt: skip


def _cex_config(cfg: Any, vid: str, v: Any) -> Any:
    """The adapter's CexConfig of a ``[venues.ID] kind = "cex"`` table. Without key env vars
    only a simulator venue may run (with the simulator's dev key); a real exchange needs both."""
    from agent.errors import ConfigError
    from agent.venues.cex import CexConfig

    if v.api_key_env is None or v.secret_env is None:
        if v.sim_url is None:
            raise ConfigError(
                f"venues.{vid}.api_key_env", "a CEX venue without sim_url needs credentials",
                "set api_key_env and secret_env to the env vars holding them",
            )  # fmt: skip
        key, secret = "sim-key", "sim-secret"  # agent/exchange_sim/context.py DEFAULT_KEY
    else:
        key = cfg.secret(v.api_key_env, f"venues.{vid}.api_key_env")
        secret = cfg.secret(v.secret_env, f"venues.{vid}.secret_env")
    try:
        return CexConfig(
            v.exchange, api_key=key, secret=secret, venue_id=vid, sim_url=v.sim_url,
            rate_per_s=v.rate_per_s, symbols=tuple(v.symbols),
        )  # fmt: skip
    except ConfigError as e:  # name the agent.toml field, not the adapter's
        name = {"cex.exchange_id": "exchange"}.get(e.field, e.field.removeprefix("cex."))
        raise ConfigError(f"venues.{vid}.{name}", e.problem, e.fix) from None


async def _connect_cex(c: Any) -> Any:
    from agent.errors import ConfigError
    from agent.venues.cex import CexVenue

    try:
        return await CexVenue.connect(c)
    except ConfigError:
        raise
    except Exception as e:  # an unreachable venue refuses the start, in one line
        raise ConfigError(
            f"venues.{c.id}", f"cannot connect to {c.exchange_id} ({c.sim_url or 'live'}): {e}",
            "check sim_url / the network, or remove the venue",
        ) from None  # fmt: skip
