"""The Safe's bound signing policy as the module executor's pre-sign guard, for every path
that makes Safe module calls (swaps, option strategies and their hedge, settlement, bridge
deposits and withdrawals): one constructor, so every path is checked by the same guard with
the same reference prices.

Reference prices (the policy's slippage rule and second-signer notional) come from the
manifest's oracles, ``PriceFeed<SYMBOL>`` (agent.policy.prices.OraclePrices); ``fallback``
prices only the symbols that have no feed (the swap app passes the median of the venues'
own quotes, agent.execution.risk.QuotePrices, whose dollar stablecoins count as 1 USD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.deploy.manifest import Manifest
from agent.execution.risk import QuotePrices
from agent.policy.guard import PolicyGuard
from agent.policy.prices import OraclePrices, PriceSource
from agent.wallet.executor import ModuleExecutor, module_executor_for


def reference_prices(
    rpc: Any, manifest: Manifest, fallback: PriceSource | None = None
) -> OraclePrices:
    """Oracle first; ``fallback`` (default: stablecoins = 1 USD, nothing else) only for
    symbols without a feed."""
    return OraclePrices(rpc, manifest, fallback=fallback or QuotePrices())


def policy_guard(
    policy_path: str | Path,
    manifest: Manifest,
    *,
    rpc: Any,
    safe: str,
    operator: str,
    fallback: PriceSource | None = None,
    rpc_url: str | None = None,
) -> PolicyGuard:
    """``PolicyGuard`` over the bound policy file (``WalletDeployment.policy_file``), prices
    from :func:`reference_prices`; allowance balances and the pause flag are read from the
    module on chain (``rpc_url``, default the client's own)."""
    return PolicyGuard.from_file(
        policy_path,
        manifest,
        safe=safe,
        operator=operator,
        chain_id=manifest.chain_id,
        prices=reference_prices(rpc, manifest, fallback),
        rpc_url=rpc_url or rpc.url,
    )


def guarded_module_executor(
    chain: Any,
    manifest: Manifest,
    *,
    safe: str,
    module: str,
    journal: Any,
    policy_path: str | Path | None,
    raise_on_revert: bool = False,
) -> ModuleExecutor:
    """``module_executor_for(chain, ...)`` (``chain`` has ``rpc``, ``signer``, ``chain_id``)
    with the policy guard when ``policy_path`` is given; None = no off-chain check (the
    module still enforces its own configuration on chain)."""
    guard = None
    if policy_path is not None:
        guard = policy_guard(
            policy_path, manifest, rpc=chain.rpc, safe=safe, operator=chain.signer.address
        )
    return module_executor_for(
        chain, safe=safe, module=module, multisend=manifest.address("MultiSendCallOnly"),
        journal=journal, raise_on_revert=raise_on_revert, guard=guard,
    )  # fmt: skip
