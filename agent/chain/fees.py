"""EIP-1559 fee estimation from ``eth_feeHistory``, with caps from config, and fee bumps.

Estimation (pure; :func:`estimate_fees` does the one RPC call):
  * base fee of the NEXT block = the last entry of ``baseFeePerGas`` (feeHistory returns one
    more base fee than blocks: the pending block's);
  * tip = median over the window of the chosen reward percentile, clamped to
    [min_priority_fee, max_priority_fee_cap];
  * fee cap = next base fee x ``base_fee_multiplier`` + tip, so the tx survives several
    full blocks of +12.5% base-fee growth, clamped to ``max_fee_cap``.

A replacement must raise BOTH fields by at least 12.5% over the transaction it replaces
(geth's and anvil's txpool rule); :func:`bump_fees` rounds up so the rule holds exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from agent.errors import ChainError, RpcResponseError, ValidationError

GWEI = 10**9
MIN_BUMP = Decimal("0.125")


class FeeCapExceededError(ChainError):
    """The fees needed (to replace, or to be mined at all) exceed the configured caps."""

    code = "FEE_CAP_EXCEEDED"


@dataclass(frozen=True, slots=True)
class FeeConfig:
    max_fee_cap: int = 500 * GWEI  # wei; never sign a fee cap above this
    max_priority_fee_cap: int = 5 * GWEI
    min_priority_fee: int = 1  # some nodes refuse a zero tip
    base_fee_multiplier: Decimal = Decimal(2)
    reward_percentile: int = 50
    history_blocks: int = 10
    bump: Decimal = MIN_BUMP  # replacement bump; raised to 12.5% if configured lower

    def __post_init__(self) -> None:
        for f in ("max_fee_cap", "max_priority_fee_cap", "min_priority_fee", "history_blocks"):
            v = getattr(self, f)
            if type(v) is not int or v < 0:
                raise ValidationError(
                    f"fees.{f}", f"{v!r} is not an int >= 0", "give wei as an integer"
                )
        if self.max_priority_fee_cap > self.max_fee_cap:
            raise ValidationError(
                "fees.max_priority_fee_cap", "exceeds fees.max_fee_cap", "lower the tip cap"
            )
        if self.min_priority_fee > self.max_priority_fee_cap:
            raise ValidationError(
                "fees.min_priority_fee", "exceeds fees.max_priority_fee_cap", "lower it"
            )
        if not isinstance(self.base_fee_multiplier, Decimal) or self.base_fee_multiplier < 1:
            raise ValidationError(
                "fees.base_fee_multiplier",
                f"{self.base_fee_multiplier!r} < 1",
                "use a Decimal >= 1, e.g. 2",
            )
        if not 0 <= self.reward_percentile <= 100:
            raise ValidationError("fees.reward_percentile", "must be within 0..100", "e.g. 50")
        if self.history_blocks < 1:
            raise ValidationError("fees.history_blocks", "must be >= 1", "e.g. 10")
        if not isinstance(self.bump, Decimal) or self.bump < MIN_BUMP:
            raise ValidationError(
                "fees.bump", f"{self.bump!r} is below 0.125", "replacements need >= 12.5%"
            )


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee: int = 0  # the next block's base fee the estimate was made for (0 = unknown)
    capped: bool = False  # the cap bit: the estimate wanted more than max_fee_cap allows

    def __post_init__(self) -> None:
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValidationError(
                "max_priority_fee_per_gas", "exceeds max_fee_per_gas", "lower the tip"
            )

    def mineable_at(self, base_fee: int) -> bool:
        return self.max_fee_per_gas >= base_fee


def _int(v: Any, what: str) -> int:
    if isinstance(v, str) and v.startswith("0x"):
        try:
            return int(v, 16)
        except ValueError:
            pass
    if type(v) is int and v >= 0:
        return v
    raise RpcResponseError(f"eth_feeHistory: {what} is {v!r}, expected a hex quantity")


def fees_from_history(history: dict[str, Any], cfg: FeeConfig) -> Fees:
    """Pure estimate from an ``eth_feeHistory`` result (with one reward percentile)."""
    if not isinstance(history, dict) or not isinstance(history.get("baseFeePerGas"), list):
        raise RpcResponseError(f"eth_feeHistory: no baseFeePerGas list in {str(history)[:120]}")
    bases = history["baseFeePerGas"]
    if not bases:
        raise RpcResponseError("eth_feeHistory: baseFeePerGas is empty")
    next_base = _int(bases[-1], "baseFeePerGas[-1]")
    rewards: Sequence[Any] = history.get("reward") or []
    tips = sorted(_int(r[0], "reward") for r in rewards if isinstance(r, list) and r)
    tip = tips[len(tips) // 2] if tips else cfg.min_priority_fee
    tip = max(cfg.min_priority_fee, min(tip, cfg.max_priority_fee_cap))
    want = (
        int((Decimal(next_base) * cfg.base_fee_multiplier).to_integral_value(ROUND_CEILING)) + tip
    )
    fee_cap = min(want, cfg.max_fee_cap)
    return Fees(
        max_fee_per_gas=fee_cap,
        max_priority_fee_per_gas=min(tip, fee_cap),
        base_fee=next_base,
        capped=want > cfg.max_fee_cap,
    )


def _raise(v: int, by: Decimal) -> int:
    return int((Decimal(v) * (1 + by)).to_integral_value(ROUND_CEILING))


def bump_fees(old: Fees, cfg: FeeConfig, *, at_least: Fees | None = None) -> Fees:
    """Fees for a replacement: both fields >= old x (1 + bump) (rounded up), and at least
    ``at_least`` (a fresh estimate) where that is higher. Raise FeeCapExceededError when the
    caps leave no valid replacement: a replacement that does not beat the old by 12.5% is
    refused by the node anyway, so signing it would only waste a signature."""
    tip = max(_raise(old.max_priority_fee_per_gas, cfg.bump), cfg.min_priority_fee)
    cap = _raise(old.max_fee_per_gas, cfg.bump)
    if at_least is not None:
        tip = max(tip, at_least.max_priority_fee_per_gas)
        cap = max(cap, at_least.max_fee_per_gas)
    cap = max(cap, tip)
    if tip > cfg.max_priority_fee_cap or cap > cfg.max_fee_cap:
        raise FeeCapExceededError(
            f"replacing needs tip {tip} and fee cap {cap} wei, above the caps "
            f"({cfg.max_priority_fee_cap}, {cfg.max_fee_cap}); raise fees.max_fee_cap / "
            "fees.max_priority_fee_cap or wait for the base fee to fall"
        )
    return Fees(max_fee_per_gas=cap, max_priority_fee_per_gas=tip, base_fee=old.base_fee)


async def estimate_fees(rpc: Any, cfg: FeeConfig) -> Fees:
    """One ``eth_feeHistory`` call through :class:`agent.chain.rpc.RpcClient`."""
    h = await rpc.fee_history(cfg.history_blocks, "latest", [cfg.reward_percentile])
    return fees_from_history(h, cfg)
