"""What the Uniswap V2 and V3 adapters share: token resolution, the Safe-module submit path,
and the slippage bound. Each adapter only says how to quote and how to build its swap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest, TokenInfo
from agent.errors import ValidationError, VenueError
from agent.model import Side, Spot
from agent.signing.abi import encode
from agent.venues.base import Capabilities, OrderType, TimeInForce
from agent.wallet.multisend import Call

APPROVE = selector("approve(address,uint256)")
BPS = 10_000

AMM_CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.MARKET}),
    time_in_force=frozenset({TimeInForce.FOK}),  # a swap fills completely or reverts
    cancel=False,
    streaming=False,
    reports=False,
    atomic_batch=True,
    on_chain=True,
)


@dataclass(frozen=True, slots=True)
class SwapLegs:
    """Resolved tokens for a spot trade: the venue pays ``token_in`` and receives ``token_out``."""

    token_in: TokenInfo
    token_out: TokenInfo
    exact_out: bool  # BUY: the base amount is exact; SELL: the amount sold is exact
    amount: int  # base units of the exact side


def resolve(manifest: Manifest, instrument: Spot, side: Side, size: Decimal) -> SwapLegs:
    if not isinstance(instrument, Spot):
        raise ValidationError("instrument", f"{instrument!r} is not a spot pair", "use BASE/QUOTE")
    base, quote = manifest.token(instrument.base), manifest.token(instrument.quote)
    amount = manifest.asset(instrument.base).to_base(size)
    if amount <= 0:
        raise ValidationError("size", f"{size} is not positive", "give a size > 0")
    if side is Side.BUY:
        return SwapLegs(quote, base, True, amount)
    return SwapLegs(base, quote, False, amount)


def bound(amount: int, slippage_bps: int, *, upper: bool) -> int:
    """amountInMaximum (upper) or amountOutMinimum (lower) from a quote and a slippage in bps.
    Integer arithmetic, rounded against us, so the bound is never looser than asked."""
    if upper:
        return amount * (BPS + slippage_bps) // BPS
    return -(-amount * (BPS - slippage_bps) // BPS)


def approve(token: str, spender: str, amount: int) -> Call:
    return Call(token, APPROVE + encode(["address", "uint256"], [spender, amount]))


def approved_swap(token_in: str, router: str, allowance: int, swap: bytes) -> list[Call]:
    """approve exactly ``allowance`` -> swap -> approve(0): no allowance outlives the batch."""
    return [approve(token_in, router, allowance), Call(router, swap), approve(token_in, router, 0)]


# --- reading pools at a pinned block (for agent.routing's curves) ------------------------------
def block_tag(block: int | None) -> str:
    return hex(block) if block is not None else "latest"


async def view_calls(
    rpc: RpcClient, calls: Sequence[tuple[str, bytes]], block: int | None
) -> list[bytes]:
    """Several ``eth_call`` reads at one block in one round trip; raises the first error
    (a pool that cannot be read at the pin is not a pool we can route through)."""
    tag = block_tag(block)
    got = await rpc.batch(
        [("eth_call", [{"to": to, "data": "0x" + data.hex()}, tag]) for to, data in calls]
    )
    out = []
    for (to, _), r in zip(calls, got, strict=True):
        if isinstance(r, Exception):
            raise VenueError(f"reading {to} at block {tag} failed: {r}") from r
        out.append(bytes.fromhex(r[2:]))
    return out


def pools_for(manifest: Manifest, prefix: str, base: str, quote: str) -> list[tuple[str, str]]:
    """(manifest key, address) of the manifest's pools of one kind (``v2`` / ``v3``) between
    ``base`` and ``quote``, in either order: the key is ``<prefix>:<A>/<B>[/...]``."""
    want = {base.upper(), quote.upper()}
    found = []
    for key, addr in sorted(manifest.pools.items()):
        kind, _, rest = key.partition(":")
        if kind != prefix:
            continue
        pair = rest.split("/")
        if len(pair) >= 2 and {pair[0].upper(), pair[1].upper()} == want:
            found.append((key, addr))
    return found
