"""One on-chain child of a RoutePlan -> the Safe's calls for it, re-checked at the plan's pin.

The plan's ``venue_ref`` (what the router read the curve from) is not trusted: the router must
be the manifest's, the pool must be the one that router swaps through (the V3 factory's pool
for the pair and fee, the V2 factory's pair), the tokens must be the plan's pair on that chain.
Then the venue's own quote at the pinned block (QuoterV2 / Router02, exact integers) must
equal the child's planned amount to the wei; otherwise the curve the plan was made on is wrong
and nothing of the plan is signed (:class:`QuoteMismatchError`). The calls are the venue's
``build_swap`` (approve exactly / swap, recipient = the Safe / approve 0), so a leg is built
the same way as a single swap.

Fills come back per leg from the batch's receipt: the Transfer logs between the Safe and that
leg's pool (the router pulls the input from the Safe into the pool and the pool pays the
Safe), so the legs of one transaction are told apart exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest, TokenInfo
from agent.errors import QuoteMismatchError, ValidationError
from agent.execution.fills import transfers
from agent.model import Quote, Side, Spot
from agent.routing.plan import PlannedChild
from agent.signing.abi import encode
from agent.venues.uniswap_v2 import UniswapV2Venue
from agent.venues.uniswap_v3 import UniswapV3Venue
from agent.wallet.multisend import Call

GET_POOL = selector("getPool(address,address,uint24)")
GET_PAIR = selector("getPair(address,address)")


@dataclass(frozen=True, slots=True)
class BuiltLeg:
    child: PlannedChild
    quote: Quote  # the venue's own quote at the pin (== the plan's amounts)
    pool: str  # where the tokens go and come from
    base: TokenInfo
    quote_token: TokenInfo
    calls: tuple[Call, ...]
    latest: int | None = None  # the venue's quote at the head when it differs from the pin's


def pin_block(child: PlannedChild) -> int:
    kind, _, value = child.pin.partition(":")
    if kind != "block" or not value.isdigit():
        raise ValidationError(
            f"plan.children[{child.client_order_id}].pin",
            f"{child.pin!r} is not a block pin",
            "on-chain children are pinned as block:<number>",
        )
    return int(value)


def token_at(manifest: Manifest, address: str) -> TokenInfo:
    a = address.lower()
    for t in manifest.tokens.values():
        if t.address.lower() == a:
            return t
    raise ValidationError(
        "plan.venue_ref.token", f"{address} is not a token of {manifest.name}", "re-plan"
    )


def resolve_pair(
    manifest: Manifest,
    child: PlannedChild,
    ref: dict[str, Any],
    pairs: Sequence[tuple[str, str]],
) -> tuple[TokenInfo, TokenInfo]:
    """(base, quote) tokens of this leg on ``manifest``: the tokens the plan's ``venue_ref``
    names when it names them, else the first of ``pairs`` (symbols, e.g. the plan's own and
    this chain's names for them: WETH/USDC, WETH.B/USDC.B) the manifest has. Either way the
    pair must be one of ``pairs``: a plan never makes the Safe trade another pair."""
    field = f"plan.children[{child.client_order_id}].venue_ref"
    if "token_in" in ref and "token_out" in ref:
        t_in, t_out = (
            token_at(manifest, str(ref["token_in"])),
            token_at(manifest, str(ref["token_out"])),
        )
        b, q = (t_out, t_in) if child.side is Side.BUY else (t_in, t_out)
        if (b.symbol, q.symbol) not in {(x.upper(), y.upper()) for x, y in pairs}:
            raise ValidationError(
                field, f"trades {b.symbol}/{q.symbol} on {manifest.name}, not the plan's pair",
                "re-plan",
            )  # fmt: skip
        return b, q
    for x, y in pairs:
        if x.upper() in manifest.tokens and y.upper() in manifest.tokens:
            return manifest.token(x), manifest.token(y)
    raise ValidationError(field, f"{manifest.name} has none of {list(pairs)}", "re-plan")


async def _word(rpc: RpcClient, to: str, data: bytes, block: int) -> str:
    raw = await rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, hex(block)])
    (addr,) = decode(["address"], bytes.fromhex(raw[2:]))
    return str(addr).lower()


async def build_leg(
    rpc: RpcClient,
    manifest: Manifest,
    child: PlannedChild,
    *,
    pairs: Sequence[tuple[str, str]],
    safe: str,
    slippage_bps: int,
    deadline: int,
) -> BuiltLeg:
    """Check ``child`` against the chain at its pin and build its calls (nothing is sent)."""
    ref: dict[str, Any] = dict(child.venue_ref or {})
    protocol = ref.get("protocol") or child.venue_id.partition("@")[0].removeprefix("uniswap_")
    block = pin_block(child)
    b, q = resolve_pair(manifest, child, ref, pairs)
    want_in, want_out = (q, b) if child.side is Side.BUY else (b, q)
    size = Decimal(child.base_amount).scaleb(-b.decimals)
    inst = Spot(b.symbol, q.symbol)
    venue: Any
    if protocol == "v3":
        fee = int(ref.get("fee") or 0)
        router = manifest.address("SwapRouter")
        factory = manifest.address("UniswapV3Factory")
        pool = await _word(
            rpc, factory, GET_POOL + encode(["address", "address", "uint24"],
                                            [want_in.address, want_out.address, fee]), block,
        )  # fmt: skip
        venue = UniswapV3Venue(rpc, manifest, fee_tiers=(fee,), venue_id=child.venue_id)
    elif protocol == "v2":
        router = manifest.address("UniswapV2Router02")
        factory = manifest.address("UniswapV2Factory")
        pool = await _word(
            rpc, factory, GET_PAIR + encode(["address", "address"],
                                            [want_in.address, want_out.address]), block,
        )  # fmt: skip
        venue = UniswapV2Venue(rpc, manifest, venue_id=child.venue_id)
    else:
        raise ValidationError(
            f"plan.children[{child.client_order_id}].venue_id",
            f"{child.venue_id!r} is not a Uniswap V2/V3 venue",
            "on-chain children are uniswap_v2@... or uniswap_v3@...",
        )
    named = (ref.get("pool") or child.venue_id.partition(":")[2] or "").lower()
    if named and named != pool:
        raise QuoteMismatchError(
            f"{child.venue_id}: the plan names pool {named}, but the router swaps "
            f"{want_in.symbol}->{want_out.symbol} through {pool}; not signing"
        )
    if "router" in ref and str(ref["router"]).lower() != router.lower():
        raise QuoteMismatchError(
            f"{child.venue_id}: the plan's router {ref['router']} is not {manifest.name}'s {router}"
        )
    got = await venue.quote(inst, child.side, size, block=block)
    planned_quote = child.quote_amount
    quoted = got.amount_in if child.side is Side.BUY else got.amount_out
    if quoted != planned_quote:
        raise QuoteMismatchError(
            f"{child.venue_id}: planned {planned_quote} {q.symbol} units for {child.base_amount} "
            f"{b.symbol} units, the venue quotes {quoted} at block {block}; not signing the plan"
        )
    head = await rpc.block_number()
    latest = None
    if head != block:
        now = await venue.quote(inst, child.side, size, block=head)
        n = now.amount_in if child.side is Side.BUY else now.amount_out
        latest = n if n != quoted else None
    calls = venue.build_swap(got, recipient=safe, slippage_bps=slippage_bps, deadline=deadline)
    return BuiltLeg(child, got, pool, b, q, tuple(calls), latest)


def leg_fill(logs: Sequence[dict[str, Any]], leg: BuiltLeg, safe: str) -> tuple[int, int]:
    """(base units, quote units) this leg moved between the Safe and its pool."""
    return pool_fill(logs, leg.child.side, leg.pool, leg.base, leg.quote_token, safe)


def pool_fill(
    logs: Sequence[dict[str, Any]],
    side: Side,
    pool: str,
    base: TokenInfo,
    quote: TokenInfo,
    safe: str,
) -> tuple[int, int]:
    """(base units, quote units) moved between ``safe`` and ``pool`` in these receipt logs:
    a BUY pays the quote into the pool and gets the base out of it; a SELL the reverse."""
    s, p = safe.lower(), pool.lower()

    def moved(token: TokenInfo, src: str, dst: str) -> int:
        return sum(
            a for f, t, a in transfers(logs, token.address) if f.lower() == src and t.lower() == dst
        )

    if side is Side.BUY:
        return moved(base, p, s), moved(quote, s, p)
    return moved(base, s, p), moved(quote, p, s)
