"""Deploy the bridge on an L1/L2 pair and register bridged tokens; called by the world
deployment, which adds the returned names to each chain's manifest.

Order matters: the escrow first, then the L2 bridge (which pins the escrow's address as
immutable), then the escrow's one-time ``setCounterpart``, then one bridged token per L1 token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from eth_utils import to_checksum_address

from agent.deploy.transactor import Transactor
from agent.errors import ValidationError

ESCROW_NAME = "BridgeEscrow"
L2_BRIDGE_NAME = "BridgeL2"
DEPOSIT_SIGNATURE = "deposit(address,address,uint256)"
WITHDRAW_SIGNATURE = "withdraw(address,address,uint256)"

DEFAULT_FEE_BPS = 5  # 0.05 % per direction
DEFAULT_CHALLENGE_PERIOD = 60  # seconds; devnets only, production uses days


class _Token(Protocol):
    address: str
    decimals: int


def bridged_name(symbol: str) -> str:
    """Manifest name of the L2 representation of ``symbol`` (e.g. ``BridgedUSDC``)."""
    return f"Bridged{symbol.upper()}"


def _rpc_url(chain: Any) -> str:
    url = chain if isinstance(chain, str) else getattr(chain, "rpc_url", None)
    if not isinstance(url, str):
        raise ValidationError("chain", f"{chain!r} has no rpc_url", "pass a Devnet or an RPC URL")
    return url


def _transactor(chain: Any, key: str) -> Transactor:
    """Reuse the caller's Transactor (it tracks the deployer's nonce); else make one."""
    if isinstance(chain, Transactor):
        return chain
    return Transactor(_rpc_url(chain), key)


def deploy_bridge(
    l1: Any,
    l2: Any,
    deployer_key: str,
    relayer_addresses: Iterable[str],
    threshold: int,
    *,
    tokens: Mapping[str, _Token] | None = None,
    fee_bps: int = DEFAULT_FEE_BPS,
    challenge_period: int = DEFAULT_CHALLENGE_PERIOD,
    fee_recipient: str | None = None,
    owner: str | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Deploy BridgeEscrow on ``l1`` and BridgeL2 on ``l2`` (Transactors, Devnets or RPC URLs;
    pass the Transactors you deploy with, so their nonce tracking stays right).

    ``tokens`` maps a symbol to the L1 token (``.address``, ``.decimals``), e.g. an L1
    manifest's ``tokens``; each gets a bridged L2 token named :func:`bridged_name`.
    Returns ``(l1_names, l2_names)``: manifest name -> address.
    """
    relayers = [to_checksum_address(a) for a in relayer_addresses]
    if not 1 <= threshold <= len(relayers):
        raise ValidationError(
            "threshold", f"{threshold} with {len(relayers)} relayers", "pass 1 <= k <= n"
        )
    if len(set(relayers)) != len(relayers):
        raise ValidationError("relayer_addresses", "contains duplicates", "list each relayer once")
    if not 0 <= fee_bps <= 1_000:
        raise ValidationError("fee_bps", f"{fee_bps} is outside 0..1000", "pass basis points")
    if challenge_period < 0:
        raise ValidationError("challenge_period", f"{challenge_period} < 0", "pass seconds >= 0")

    t1 = _transactor(l1, deployer_key)
    t2 = _transactor(l2, deployer_key)
    owner = to_checksum_address(owner or t1.address)
    sink = to_checksum_address(fee_recipient or owner)

    escrow = t1.deploy(
        ESCROW_NAME, t1.address, relayers, threshold, t2.chain_id, fee_bps, sink, challenge_period
    )
    bridge = t2.deploy(
        L2_BRIDGE_NAME, t2.address, relayers, threshold, t1.chain_id, escrow, fee_bps, sink
    )
    t1.transact(ESCROW_NAME, escrow, "setCounterpart", bridge)
    l1_names = {ESCROW_NAME: escrow}
    l2_names = {L2_BRIDGE_NAME: bridge}
    for symbol, tok in (tokens or {}).items():
        t2.transact(
            L2_BRIDGE_NAME, bridge, "registerToken",
            to_checksum_address(tok.address), f"Bridged {symbol}", f"{symbol}.b", tok.decimals,
        )  # fmt: skip
        l2_names[bridged_name(symbol)] = to_checksum_address(
            t2.call(L2_BRIDGE_NAME, bridge, "bridgedToken", to_checksum_address(tok.address))
        )
    if owner != t1.address:  # hand governance (guardian, token registry) to the owner
        t1.transact(ESCROW_NAME, escrow, "transferOwnership", owner)
        t2.transact(L2_BRIDGE_NAME, bridge, "transferOwnership", owner)
    return l1_names, l2_names


def with_bridge(
    l1_tx: Transactor,
    l2_tx: Transactor,
    l1: Any,
    l2: Any,
    relayer_addresses: Iterable[str],
    threshold: int,
    **kw: Any,
) -> tuple[Any, Any]:
    """For the world deployment: deploy the bridge for every L1 token in ``l1`` (a Manifest)
    and return both manifests with the new names added (idempotent: no-op if present)."""
    if ESCROW_NAME in l1.contracts and L2_BRIDGE_NAME in l2.contracts:
        return l1, l2
    l1_names, l2_names = deploy_bridge(
        l1_tx, l2_tx, l1_tx.key, relayer_addresses, threshold, tokens=l1.tokens, **kw
    )
    return l1.with_contracts(**l1_names), l2.with_contracts(**l2_names)
