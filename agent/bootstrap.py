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

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.execution.risk import SwapRisk
from agent.execution.swap import RouteCheck, SwapPipeline
from agent.execution.tracking import TrackReport, track
from agent.journal import SqliteJournal
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


def open_trusted_journal(path: Path, operator_key: str | None) -> SqliteJournal:
    """The signing path's journal, verified before anything is read from it: from its MAC'd
    checkpoint (keyed by the operator key) when the key is local, else (a remote or
    threshold signer: no key in this process) by the full walk. A journal whose chain does
    not verify is refused, since an order missing from it would be executed again
    (JOURNAL_TAMPERED)."""
    from agent.errors import JournalTamperedError
    from agent.signing.local import _parse_key  # the key's one parser (never echoes it)

    secret = _parse_key("operator_key", operator_key) if operator_key else None
    journal = SqliteJournal(path, checkpoint_secret=secret)
    try:
        rep = journal.verify_incremental() if secret is not None else journal.verify()
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
    cosigner_url: str | None = None,
) -> SwapApp:
    """``policy_path``: the fund's signing-policy file, checked off-chain on every built
    transaction before signing; None = no off-chain policy (the on-chain module still
    enforces its own configuration).

    ``signer``: the operator's Signer if not the local ``operator_key`` (e.g. a
    ``agent.signing.threshold.ThresholdSigner``: the engine awaits it under its timeout).
    ``simulation``: "trace" or "fallback" to simulate every module call before signing
    (agent.chain.simulate.SimulationGuard, after the policy guard); None = off.
    ``cosigner_url`` (default ``$AGENT_COSIGNER_URL``): the role requires a co-signature, so
    every module call goes through that co-signer (agent.signing.cosigner), which re-checks
    and simulates the exact call itself; the local simulation guard is then not used.

    The guard's reference prices (its slippage rule and second-signer notional) are
    INDEPENDENT of the quotes the swap is built from wherever the manifest has an oracle:
    a symbol with a ``PriceFeed<SYM>`` feed is priced by the feed (WETH, WBTC on the dev
    world); only a symbol without one falls back to the median of the venues' own quotes
    (``SwapRisk.prices``, where USD stablecoins count as 1 USD)."""
    journal = open_trusted_journal(journal_path, operator_key or None)  # before any network use
    try:
        rpc = await RpcClient(
            rpc_url, expected_chain_id=manifest.chain_id, name=manifest.name
        ).connect()
    except BaseException:
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
        import os

        cosigner_url = cosigner_url or os.environ.get("AGENT_COSIGNER_URL") or None
        if simulation is not None and cosigner_url is None:
            from agent.chain.simulate import SimulationGuard

            pre_sign = SimulationGuard(
                rpc, operator=signer.address, module=module, safe=safe, mode=simulation,  # type: ignore[arg-type]
                multisend=manifest.address("MultiSendCallOnly"), inner=guard,
            )  # fmt: skip
        executor = ModuleExecutor(
            rpc, signer, module=module, multisend=manifest.address("MultiSendCallOnly"),
            chain_id=manifest.chain_id, journal=journal, guard=pre_sign,
        )  # fmt: skip
        route = RouteCheck()
        manager = OrderManager.open(journal, checks=[route, risk.check])
        venues = [UniswapV2Venue(rpc, manifest), UniswapV3Venue(rpc, manifest)]
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
