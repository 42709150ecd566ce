"""Transaction engine settings (validated at construction; bad values name their field)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.chain.fees import FeeConfig
from agent.errors import ValidationError


@dataclass(frozen=True, slots=True)
class EngineConfig:
    chain_id: int
    confirmations: int = 2  # receipts count as final at this depth (1 = the mining block)
    reorg_window: int = 64  # keep re-checking confirmed txs this many blocks deep for reorgs
    max_nonce_gap: int = 256  # in flight beyond the pool's count; more means a bookkeeping bug
    fees: FeeConfig = field(default_factory=FeeConfig)
    fee_ttl: float = 1.0  # seconds a fee estimate is reused (one feeHistory call per burst)
    auto_replace: bool = True  # speed up txs the base fee has priced out
    stuck_blocks: int = 3  # ...or that sat in the pool this many blocks
    # ...or this many seconds: a node that makes no blocks without new traffic (anvil's
    # automine) or that parks the next nonce as "queued" (an anvil pool race on concurrent
    # submissions) never advances the head, so a block count alone would wait forever
    stuck_seconds: float = 60.0
    # blocks alone never make a tx stuck sooner than this: a devnet's automine produces
    # bursts of blocks (empty ones too, while the tx sits ready in the pool) within
    # milliseconds, and replacing then only costs a signature and a journal write
    stuck_min_seconds: float = 1.0
    poll_interval: float = 0.05
    # seconds a tx the node accepted is trusted to still be in its pool before a poll asks
    # again (eth_getTransactionByHash costs anvil several receipts); 0 = ask every poll
    presence_every: float = 2.0
    # seconds a remote or threshold signer may take for one signature before the send is
    # refused (SIGNER_TIMEOUT; nothing journaled as signed); a local key signs inline
    sign_timeout: float = 10.0

    def __post_init__(self) -> None:
        if type(self.chain_id) is not int or self.chain_id <= 0:
            raise ValidationError("chain_id", f"{self.chain_id!r} is not a chain id", "e.g. 1")
        if self.confirmations < 1:
            raise ValidationError("confirmations", f"{self.confirmations} < 1", "use 1 or more")
        if self.reorg_window < self.confirmations:
            raise ValidationError("reorg_window", "is below confirmations", "raise it")
        if self.presence_every < 0:
            raise ValidationError(
                "presence_every", f"{self.presence_every} < 0", "use seconds >= 0"
            )
        if self.stuck_seconds <= 0:
            raise ValidationError(
                "stuck_seconds", f"{self.stuck_seconds} <= 0", "use seconds > 0, e.g. 60"
            )
        if self.stuck_min_seconds < 0:
            raise ValidationError(
                "stuck_min_seconds", f"{self.stuck_min_seconds} < 0", "use seconds >= 0, e.g. 1"
            )
        if not self.sign_timeout > 0:
            raise ValidationError(
                "sign_timeout", f"{self.sign_timeout} <= 0", "use seconds > 0, e.g. 10"
            )
        if self.stuck_blocks < 1:
            raise ValidationError("stuck_blocks", f"{self.stuck_blocks} < 1", "use 1 or more")
