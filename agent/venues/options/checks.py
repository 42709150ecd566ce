"""Pure checks of a maker's quote against what we asked for, our own model, and the policy.

Each check returns a Decision (Allow / Deny(code, reason, rule)); nothing here does I/O, so the
same checks run in unit tests, in the venue, and in the multi-leg executor before signing.
The signature check recomputes the EIP-712 digest from the decoded fields and recovers the
signer: a quote whose fields were altered, or that was signed by anyone but its ``maker``, or
for another chain or market, is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from agent.model import Side
from agent.model.decisions import Allow, Decision, Deny
from agent.venues.options.eip712 import (
    ZERO_ADDRESS,
    MakerSide,
    SignedQuote,
    quote_digest,
    recover_signer,
)
from agent.venues.options.series import SeriesTerms

MAX_BPS = 10_000


@dataclass(frozen=True, slots=True)
class LegRequest:
    """What we asked a maker for: ``amount`` (underlying base units) of ``series`` on
    ``side`` (our side), and what our model says one unit is worth (quote base units)."""

    index: int
    series: SeriesTerms
    side: Side
    amount: int
    model_price: int


@dataclass(frozen=True, slots=True)
class QuoteCheckContext:
    chain_id: int
    market: str
    taker: str  # our Safe
    now: int  # unix seconds
    min_validity_s: int = 10  # the quote must outlive submission and mining
    max_amount: int | None = None  # per-leg size limit (underlying base units)
    price_tolerance_bps: int = 500  # how far from our model price we accept
    price_slack: int = 0  # absolute slack (quote base units per whole) for cheap wings
    allowed_makers: frozenset[str] | None = None
    used_nonces: frozenset[tuple[str, int]] = frozenset()  # (maker, nonce) seen filled/cancelled
    # extra policy checks: (leg request, signed quote, ctx) -> Decision
    policy: tuple[Callable[[LegRequest, SignedQuote, QuoteCheckContext], Decision], ...] = field(
        default=()
    )


def _deny(code: str, reason: str) -> Deny:
    return Deny(code, reason, rule="options.quote")


def check_signature(sq: SignedQuote, ctx: QuoteCheckContext) -> Decision:
    if sq.chain_id != ctx.chain_id or sq.market.lower() != ctx.market.lower():
        return _deny(
            "QUOTE_FORGED",
            f"quote is for chain {sq.chain_id} market {sq.market}, we trade on chain "
            f"{ctx.chain_id} market {ctx.market}",
        )
    # Recompute the digest from OUR chain/market and the decoded fields.
    signer = recover_signer(quote_digest(sq.quote, ctx.chain_id, ctx.market), sq.signature)
    if signer is None or signer != to_checksum_address(sq.quote.maker):
        return _deny(
            "QUOTE_FORGED",
            f"signature does not recover to maker {sq.quote.maker} (got {signer}); the quote "
            "was altered or signed by someone else",
        )
    if ctx.allowed_makers is not None and signer not in ctx.allowed_makers:
        return _deny("MAKER_NOT_ALLOWED", f"maker {signer} is not on the allowed list")
    return Allow("options.signature")


def check_quote(sq: SignedQuote, req: LegRequest, ctx: QuoteCheckContext) -> Decision:
    """All checks for one leg, cheapest first; the first failure is returned."""
    q = sq.quote
    if q.series_id != req.series.series_id:
        return _deny(
            "SERIES_MISMATCH",
            f"quote is for series {q.series_id:#x}, we asked for {req.series.series_id:#x}",
        )
    if q.side is not MakerSide.for_taker(req.side):
        return _deny("SIDE_MISMATCH", f"quote has the maker {q.side.name}, we want to {req.side}")
    if q.taker != ZERO_ADDRESS and q.taker.lower() != ctx.taker.lower():
        return _deny("QUOTE_TAKER", f"quote is reserved for {q.taker}, not our Safe {ctx.taker}")
    if q.expiry < ctx.now + ctx.min_validity_s:
        return _deny(
            "QUOTE_EXPIRED",
            f"quote expires at {q.expiry}, {q.expiry - ctx.now}s from now; we need at least "
            f"{ctx.min_validity_s}s to get it mined",
        )
    if req.amount <= 0:
        return _deny("QUOTE_OVER_SIZE", f"leg amount {req.amount} is not positive")
    if req.amount > q.size:
        return _deny("QUOTE_OVER_SIZE", f"leg amount {req.amount} exceeds the quote size {q.size}")
    if ctx.max_amount is not None and req.amount > ctx.max_amount:
        return _deny(
            "QUOTE_OVER_SIZE", f"leg amount {req.amount} exceeds our per-leg limit {ctx.max_amount}"
        )
    if (to_checksum_address(q.maker), q.nonce) in ctx.used_nonces:
        return _deny("QUOTE_REPLAYED", f"nonce {q.nonce} of maker {q.maker} is already used")
    sig = check_signature(sq, ctx)
    if not sig.allowed:
        return sig
    tol = req.model_price * ctx.price_tolerance_bps // MAX_BPS + ctx.price_slack
    if req.side is Side.BUY and q.price > req.model_price + tol:
        return _deny(
            "QUOTE_OFF_MODEL",
            f"ask {q.price} is above our model {req.model_price} + tolerance {tol}",
        )
    if req.side is Side.SELL and q.price < req.model_price - tol:
        return _deny(
            "QUOTE_OFF_MODEL",
            f"bid {q.price} is below our model {req.model_price} - tolerance {tol}",
        )
    for rule in ctx.policy:
        d = rule(req, sq, ctx)
        if not d.allowed:
            return d
    return Allow("options.quote")


def check_all(
    quotes: Sequence[SignedQuote], reqs: Sequence[LegRequest], ctx: QuoteCheckContext
) -> list[Decision]:
    """One decision per leg; also refuses two legs that reuse one (maker, nonce)."""
    out: list[Decision] = []
    seen: set[tuple[str, int]] = set()
    for sq, req in zip(quotes, reqs, strict=True):
        d = check_quote(sq, req, ctx)
        key = (sq.quote.maker.lower(), sq.quote.nonce)
        if d.allowed and key in seen:
            d = _deny("QUOTE_REPLAYED", f"nonce {sq.quote.nonce} is used by two legs")
        seen.add(key)
        out.append(d)
    return out


def signing_policy_rule(
    policy: Any, feeds: Any, now: int
) -> Callable[[LegRequest, SignedQuote, QuoteCheckContext], Decision]:
    """A ``QuoteCheckContext.policy`` rule: the fund's signing policy's OptionsFillChecker
    (maker in the counterparty set, taker the Safe, series on the policy's assets and oracle,
    premium within the oracle-derived bounds), judged by the policy's own off-chain mirror
    (agent.policy.checkers) on the quote as it would be filled, with the module's codes. A
    quote the policy would deny before signing is refused here, at the RFQ, instead.
    ``feeds``: the oracle readings (agent.policy.onchain.ChainState), ``now``: the block time."""
    from agent.policy.checkers import SeriesInfo, Violation, check
    from agent.venues.options import calldata

    fill_rules = [
        r for r in policy.rules.values() if r.checker is not None and r.sig.name == "fillQuotes"
    ]

    def rule(req: LegRequest, sq: SignedQuote, ctx: QuoteCheckContext) -> Decision:
        if not fill_rules:
            return Allow("policy.options")
        r = fill_rules[0]
        s = req.series
        info = SeriesInfo(
            s.underlying.lower(), s.quote_asset.lower(), s.collateral.lower(), s.feed.lower(),
            s.strike, s.cap, s.expiry, s.is_call, s.unit,
        )  # fmt: skip
        data = calldata.fill_quotes([(sq, req.amount)])
        try:
            check(policy, r.checker, r.target, data, feeds, {s.series_id: info}, now)
        except Violation as v:
            code = v.status if isinstance(v.status, str) else v.status.code
            return Deny(code, v.reason, rule=f"{r.label}.OptionsFillChecker")
        return Allow("policy.options")

    return rule
