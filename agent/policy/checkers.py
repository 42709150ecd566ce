"""Off-chain mirrors of the PolicyModule's oracle registry, its value guard and its checker
contracts (SwapPriceChecker, OptionsFillChecker, BridgeDepositChecker), in the module's
integer arithmetic so a Deny carries the status the module would revert with.

Pure: the on-chain readings (feed rounds, series terms, the value guard's window, balances)
come in the context (:class:`agent.policy.evaluator.PolicyContext`); the guard reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.policy.model import CHECKER_NAMES, Checker, CheckerKind, Policy, Status

BPS = 10_000
E18 = 10**18
DAY = 86_400
ZERO = "0x" + "00" * 20

SEL_V2_EXACT_IN = bytes.fromhex("38ed1739")  # swapExactTokensForTokens
SEL_V2_EXACT_OUT = bytes.fromhex("8803dbee")  # swapTokensForExactTokens
SEL_V3_EIS = bytes.fromhex("414bf389")  # exactInputSingle (SwapRouter, deadline in struct)
SEL_V3_EOS = bytes.fromhex("db3e2198")  # exactOutputSingle
SEL_V3_EI = bytes.fromhex("c04b8d59")  # exactInput
SEL_V3_EO = bytes.fromhex("f28c0498")  # exactOutput
SEL_FILL = bytes.fromhex("00000000")  # set below from the signature (kept in one place)
SEL_TRANSFER = bytes.fromhex("a9059cbb")
SEL_DEPOSIT = bytes.fromhex("8340f549")  # BridgeEscrow.deposit(address,address,uint256)
SEL_WETH_DEPOSIT = bytes.fromhex("d0e30db0")
MAKER_BUYS, MAKER_SELLS = 0, 1


def _sel(sig: str) -> bytes:
    from eth_utils import function_signature_to_4byte_selector

    return function_signature_to_4byte_selector(sig)


SEL_FILL = _sel(
    "fillQuotes(((address,address,uint256,uint8,uint256,uint256,uint64,uint256),bytes,uint256)[])"
)


class Violation(Exception):
    """What the module would revert with: ``PolicyViolation(status, word)``, and why."""

    def __init__(self, status: Status | str, word: int, reason: str):
        super().__init__(reason)
        self.status, self.word, self.reason = status, word, reason


@dataclass(frozen=True, slots=True)
class FeedRead:
    """One ``latestRoundData()`` + ``decimals()`` reading of a feed (None in the context
    when the call reverted or returned garbage)."""

    answer: int
    updated_at: int
    decimals: int
    round_id: int = 0
    answered_in_round: int = 0  # < round_id: an incomplete round (stale)


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """``OptionsMarket.series(id)``: the terms and the unit (0 = no such series)."""

    underlying: str  # lower-case
    quote_asset: str
    collateral: str
    feed: str
    strike: int
    cap: int
    expiry: int
    is_call: bool
    unit: int
    settled: bool = False


@dataclass(frozen=True, slots=True)
class Window:
    """The value guard's window as ``valueGuard()`` reports it."""

    start: int
    base: int
    loss: int


# --------------------------------------------------------------------------- oracles
def value_e18(
    policy: Policy, feeds: Mapping[str, FeedRead | None], now: int, token: str, amount: int
) -> int:
    """``PolicyModule.valueE18``: USD * 1e18 of ``amount`` base units of ``token``."""
    o = policy.oracles.get(token)
    if o is None:
        raise Violation(
            Status.FEED_MISSING,
            int(token, 16),
            f"no oracle is configured for {policy.name_of(token)}; it cannot be priced",
        )
    if token not in feeds:
        raise Violation(
            "POLICY_NO_REFERENCE_PRICE",
            int(token, 16),
            f"the guard has no reading of {o.feed_name} for {o.symbol}; refusing what it cannot price",
        )
    r = feeds[token]
    # the module's order: the round's answer, its age, then the feed's decimals
    if r is None or r.answer <= 0 or r.answer >= 2**128:
        what = "did not answer" if r is None else f"answered {r.answer}"
        raise Violation(
            Status.FEED_INVALID, int(token, 16), f"feed {o.feed_name} ({o.symbol}) {what}"
        )
    if (
        r.updated_at == 0
        or r.updated_at > now
        or now - r.updated_at > o.max_age
        or r.answered_in_round < r.round_id
    ):
        raise Violation(
            Status.FEED_STALE,
            int(token, 16),
            f"feed {o.feed_name} ({o.symbol}) last updated at {r.updated_at}, "
            f"{now - r.updated_at}s before the block (max age {o.max_age}s)",
        )
    if r.decimals != o.decimals:
        raise Violation(
            Status.FEED_INVALID,
            int(token, 16),
            f"feed {o.feed_name} ({o.symbol}) reports {r.decimals} decimals, the policy says {o.decimals}",
        )
    return _bounded(token, amount * r.answer * E18 // (10**o.decimals * 10**o.token_decimals))


def _bounded(token: str, v: int) -> int:
    """The module denies a value at or above 2**200 (1e42 USD): no sum can overflow."""
    if v >> 200:
        raise Violation(
            Status.FEED_INVALID, int(token, 16), f"a value of {v} (USD * 1e18) is absurd"
        )
    return v


# --------------------------------------------------------------------------- decoding
# The checkers' canonical reads (contracts/policy/checkers/CheckerBase.sol): any encoding a
# lenient decoder might read differently from the target is MALFORMED; an unknown selector is
# CHECK_FAILED.
class Malformed(ValueError):
    def __init__(self, word: int):
        super().__init__(f"non-canonical encoding ({word})")
        self.word = word


class Unknown(ValueError):
    def __init__(self, word: int):
        super().__init__("not a function this checker knows")
        self.word = word


def _word(data: bytes, i: int) -> int:
    return int.from_bytes(data[4 + 32 * i : 36 + 32 * i], "big")


def _addr(data: bytes, i: int) -> str:
    v = _word(data, i)
    if v >> 160:
        raise Malformed(v)
    return "0x" + v.to_bytes(20, "big").hex()


def _expect(data: bytes, i: int, want: int) -> None:
    w = _word(data, i)
    if w != want:
        raise Malformed(w)


def _length(data: bytes, want: int) -> None:
    if len(data) != want:
        raise Malformed(len(data))


def _zero_padding(data: bytes, start: int, n: int) -> None:
    end = start + ((n + 31) & ~31)
    for p in range(start + n, end):
        if data[p]:
            raise Malformed(p)


def _selector(data: bytes) -> bytes:
    if len(data) < 4:
        raise Unknown(len(data))
    return data[:4]


@dataclass(frozen=True, slots=True)
class SwapTerms:
    token_in: str
    token_out: str
    amount: int  # exact in, or exact out
    bound: int  # minimum out, or maximum in
    exact_out: bool


def decode_swap(data: bytes) -> SwapTerms:
    """SwapPriceChecker.decode; raises Malformed / Unknown."""
    sel = _selector(data)
    if sel in (SEL_V2_EXACT_IN, SEL_V2_EXACT_OUT):
        if len(data) < 4 + 32 * 6:
            raise Malformed(len(data))
        _expect(data, 2, 0xA0)
        _addr(data, 3)
        n = _word(data, 5)
        if n < 2 or n > (len(data) - 4) // 32:
            raise Malformed(n)
        _length(data, 4 + 32 * (6 + n))
        for k in range(n):
            _addr(data, 6 + k)
        t_in, t_out = _addr(data, 6), _addr(data, 5 + n)
        return SwapTerms(t_in, t_out, _word(data, 0), _word(data, 1), sel == SEL_V2_EXACT_OUT)
    if sel in (SEL_V3_EIS, SEL_V3_EOS):
        _length(data, 4 + 32 * 8)
        t_in, t_out = _addr(data, 0), _addr(data, 1)
        if _word(data, 2) >> 24:
            raise Malformed(_word(data, 2))
        _addr(data, 3)
        _addr(data, 7)
        return SwapTerms(t_in, t_out, _word(data, 5), _word(data, 6), sel == SEL_V3_EOS)
    if sel in (SEL_V3_EI, SEL_V3_EO):
        if len(data) < 4 + 32 * 7:
            raise Malformed(len(data))
        _expect(data, 0, 0x20)
        _expect(data, 1, 0xA0)
        _addr(data, 2)
        n = _word(data, 6)
        if n < 43 or (n - 20) % 23 or n > len(data):
            raise Malformed(n)
        p0 = 4 + 32 * 7
        _length(data, p0 + ((n + 31) & ~31))
        _zero_padding(data, p0, n)
        first, last = "0x" + data[p0 : p0 + 20].hex(), "0x" + data[p0 + n - 20 : p0 + n].hex()
        amount, bound = _word(data, 4), _word(data, 5)
        if sel == SEL_V3_EO:  # exactOutput's path runs from the output back to the input
            return SwapTerms(last, first, amount, bound, True)
        return SwapTerms(first, last, amount, bound, False)
    raise Unknown(int.from_bytes(sel, "big") << 224)


@dataclass(frozen=True, slots=True)
class Fill:
    maker: str
    taker: str
    series_id: int
    side: int
    price: int
    size: int
    nonce: int
    amount: int


ORDER_HEAD = 10 * 32  # Quote (8 words) | signature offset | amount


def decode_fills(data: bytes) -> list[Fill]:
    """OptionsFillChecker.decode; raises Malformed / Unknown."""
    if _selector(data) != SEL_FILL:
        raise Unknown(int.from_bytes(data[:4], "big") << 224)
    if len(data) < 4 + 64:
        raise Malformed(len(data))
    _expect(data, 0, 0x20)
    n = _word(data, 1)
    base = 4 + 64
    if n == 0 or n > (len(data) - base) // (32 + ORDER_HEAD + 32):
        raise Malformed(n)
    out: list[Fill] = []
    nxt = 32 * n
    for k in range(n):
        _expect(data, 2 + k, nxt)
        p = base + nxt
        if p + ORDER_HEAD + 32 > len(data):
            raise Malformed(p)
        w = (p - 4) // 32
        maker, taker = _addr(data, w), _addr(data, w + 1)
        side = _word(data, w + 3)
        if side > MAKER_SELLS:
            raise Malformed(side)
        if _word(data, w + 6) >> 64:
            raise Malformed(_word(data, w + 6))
        _expect(data, w + 8, ORDER_HEAD)
        sig_len = _word(data, w + 10)
        sig = p + ORDER_HEAD + 32
        if sig_len > len(data) - sig:
            raise Malformed(sig_len)
        _zero_padding(data, sig, sig_len)
        out.append(
            Fill(
                maker,
                taker,
                _word(data, w + 2),
                side,
                _word(data, w + 4),
                _word(data, w + 5),
                _word(data, w + 7),
                _word(data, w + 9),
            )
        )
        nxt += ORDER_HEAD + 32 + ((sig_len + 31) & ~31)
    _length(data, base + nxt)
    return out


# --------------------------------------------------------------------------- checkers
@dataclass(frozen=True, slots=True)
class Checked:
    credit: int  # USD * 1e18 the value guard cannot see
    deltas: tuple[tuple[str, int], ...]  # the worst-case balance changes the call allows


def check(
    policy: Policy,
    ck: Checker,
    to: str,
    data: bytes,
    feeds: Mapping[str, FeedRead | None],
    series: Mapping[int, SeriesInfo],
    now: int,
    fees: Mapping[int, int] | None = None,
) -> Checked:
    """The checker's verdict (raises Violation) and its credit, plus the worst-case balance
    changes the calldata allows (for the value guard's pre-check). ``fees``: deposit amount ->
    BridgeEscrow.feeFor(amount)."""
    if ck.kind == CheckerKind.SWAP_PRICE:
        return _swap(policy, ck, data, feeds, now)
    if ck.kind == CheckerKind.OPTIONS_FILL:
        return _options(policy, ck, to, data, feeds, series, now)
    return _bridge(policy, ck, data, feeds, now, fees or {})


def _undecodable(ck: Checker, e: ValueError) -> Violation:
    name = CHECKER_NAMES[ck.kind]
    if isinstance(e, Malformed):
        return Violation(
            Status.MALFORMED,
            e.word,
            f"{name}: the calldata is not the canonical encoding ({e.word})",
        )
    return Violation(
        Status.CHECK_FAILED, int(ck.address, 16), f"{name} does not know this function"
    )


def _swap(
    policy: Policy, ck: Checker, data: bytes, feeds: Mapping[str, FeedRead | None], now: int
) -> Checked:
    dev = ck.param & 0xFFFF
    if dev >= BPS:
        raise Violation(Status.CHECK_FAILED, int(ck.address, 16), f"max deviation {dev} bps")
    try:
        s = decode_swap(data)
    except ValueError as e:
        raise _undecodable(ck, e) from None
    v_in = value_e18(policy, feeds, now, s.token_in, s.amount if not s.exact_out else s.bound)
    v_out = value_e18(policy, feeds, now, s.token_out, s.bound if not s.exact_out else s.amount)
    name_in, name_out = policy.name_of(s.token_in), policy.name_of(s.token_out)
    if s.exact_out:
        if v_in * BPS > v_out * (BPS + dev):
            raise Violation(
                Status.PRICE_OUT_OF_BOUNDS,
                s.bound,
                f"maximum in {s.bound} {name_in} is worth more than {dev} bps over the "
                f"{s.amount} {name_out} bought at the oracle price",
            )
        deltas = ((s.token_in, -s.bound), (s.token_out, s.amount))
    else:
        if v_out * BPS < v_in * (BPS - dev):
            raise Violation(
                Status.PRICE_OUT_OF_BOUNDS,
                s.bound,
                f"minimum out {s.bound} {name_out} is worth more than {dev} bps under the "
                f"{s.amount} {name_in} sold at the oracle price",
            )
        deltas = ((s.token_in, -s.amount), (s.token_out, s.bound))
    return Checked(0, deltas)


def spot(
    policy: Policy, feeds: Mapping[str, FeedRead | None], now: int, s: SeriesInfo, qunit: int
) -> int:
    """Oracle price of one whole underlying in quote base units."""
    v_u = value_e18(policy, feeds, now, s.underlying, s.unit)
    v_q = value_e18(policy, feeds, now, s.quote_asset, qunit)
    if v_q == 0:
        raise Violation(Status.FEED_INVALID, int(s.quote_asset, 16), "quote asset priced at 0")
    return v_u * qunit // v_q


def premium_bounds(s: SeriesInfo, spot_px: int, max_tv_bps: int) -> tuple[int, int]:
    """(floor, cap) of the premium per whole unit: a sale receives at least the intrinsic
    value; a purchase pays at most intrinsic + max_tv_bps of spot, and never more than the
    option can pay out."""
    if s.is_call:
        top = min(spot_px, s.cap) if s.cap and s.collateral != s.underlying else spot_px
        intrinsic = max(top - s.strike, 0)
        max_pay = spot_px if s.collateral == s.underlying else s.cap - s.strike
    else:
        intrinsic = max(s.strike - spot_px, 0)
        max_pay = s.strike
    return intrinsic, min(intrinsic + max_tv_bps * spot_px // BPS, max_pay)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _options(
    policy: Policy,
    ck: Checker,
    to: str,
    data: bytes,
    feeds: Mapping[str, FeedRead | None],
    series: Mapping[int, SeriesInfo],
    now: int,
) -> Checked:
    try:
        fills = decode_fills(data)
    except ValueError as e:
        raise _undecodable(ck, e) from None
    makers = policy.sets[ck.counterparty_set].values if ck.counterparty_set in policy.sets else ()
    assets = policy.sets[ck.asset_set].values if ck.asset_set in policy.sets else ()
    safe = policy.safe.lower()
    credit = 0
    deltas: list[tuple[str, int]] = []
    for i, f in enumerate(fills):
        if int(f.maker, 16) not in makers:
            raise Violation(
                Status.COUNTERPARTY_NOT_ALLOWED,
                int(f.maker, 16),
                f"order {i}: maker {f.maker} is not one of the fund's market makers",
            )
        if f.taker != safe:
            raise Violation(
                Status.TAKER_NOT_SAFE,
                int(f.taker, 16),
                f"order {i}: quote taker {f.taker} is not the Safe (an open quote is refused too)",
            )
        s = series.get(f.series_id)
        if s is None:
            raise Violation(
                "POLICY_NO_REFERENCE_PRICE",
                f.series_id,
                f"order {i}: the guard has not read series {f.series_id} from the market",
            )
        o = policy.oracles.get(s.underlying)
        why = ""
        if s.unit == 0:
            why = "does not exist on the market"
        elif s.settled:
            why = "is already settled"
        elif int(s.underlying, 16) not in assets or int(s.quote_asset, 16) not in assets:
            why = f"trades {policy.name_of(s.underlying)}/{policy.name_of(s.quote_asset)}, not assets of the policy"
        elif o is None or o.feed.lower() != s.feed:
            why = f"settles on feed {s.feed}, not the policy's oracle for {policy.name_of(s.underlying)}"
        elif s.expiry < now + ck.min_days * DAY or (
            ck.max_days and s.expiry > now + ck.max_days * DAY
        ):
            why = f"expires at {s.expiry}, outside {ck.min_days}..{ck.max_days or 'any'} days from now"
        if why:
            raise Violation(
                Status.SERIES_NOT_ALLOWED, f.series_id, f"order {i}: series {f.series_id} {why}"
            )
        qunit = 10 ** policy.oracles[s.quote_asset].token_decimals
        px = spot(policy, feeds, now, s, qunit)
        floor, cap = premium_bounds(s, px, ck.max_time_value_bps)
        premium = _ceil_div(f.price * f.amount, s.unit)
        if f.side == MAKER_SELLS:
            if f.price > cap:
                raise Violation(
                    Status.PREMIUM_OUT_OF_BOUNDS,
                    f.price,
                    f"order {i}: buying at {f.price} per unit, above the cap {cap} "
                    f"(intrinsic {floor} + {ck.max_time_value_bps} bps of spot {px})",
                )
            credit += value_e18(policy, feeds, now, s.quote_asset, premium)
            deltas.append((s.quote_asset, -premium))
        else:
            if f.price < floor:
                raise Violation(
                    Status.PREMIUM_OUT_OF_BOUNDS,
                    f.price,
                    f"order {i}: selling at {f.price} per unit, below the intrinsic value {floor}",
                )
            collateral = _max_payoff(s, f.amount)
            posted = value_e18(policy, feeds, now, s.collateral, collateral)
            received = value_e18(policy, feeds, now, s.quote_asset, premium)
            credit += max(posted - received, 0)
            deltas += [(s.collateral, -collateral), (s.quote_asset, premium)]
    return Checked(credit, tuple(deltas))


def _max_payoff(s: SeriesInfo, amount: int) -> int:
    if s.collateral == s.underlying:
        return amount
    per_unit = s.cap - s.strike if s.is_call else s.strike
    return _ceil_div(per_unit * amount, s.unit)


def _bridge(
    policy: Policy,
    ck: Checker,
    data: bytes,
    feeds: Mapping[str, FeedRead | None],
    now: int,
    fees: Mapping[int, int],
) -> Checked:
    """Credit: the value of the net amount the L2 side mints (amount - BridgeEscrow.feeFor)."""
    try:
        if _selector(data) != SEL_DEPOSIT:
            raise Unknown(int.from_bytes(data[:4], "big") << 224)
        _length(data, 4 + 96)
        token = _addr(data, 0)
        _addr(data, 1)
    except ValueError as e:
        raise _undecodable(ck, e) from None
    amount = _word(data, 2)
    if amount not in fees:
        raise Violation(
            "POLICY_NO_REFERENCE_PRICE",
            amount,
            "the guard has not read the bridge fee of this deposit",
        )
    fee = fees[amount]
    net = amount - fee if fee < amount else 0
    return Checked(value_e18(policy, feeds, now, token, net), ((token, -amount),))


# --------------------------------------------------------------------------- value guard
def value_guard(
    policy: Policy,
    feeds: Mapping[str, FeedRead | None],
    now: int,
    window: Window,
    balances: Mapping[str, int],
    deltas: Mapping[str, int],
    credit: int,
) -> int:
    """The module's post-execution check on ``deltas`` (token -> change of the Safe's
    balance); raises Violation, else returns the execution's loss (USD * 1e18)."""
    vg = policy.value_guard
    assert vg is not None
    out = inn = 0
    for t in vg.tracked:
        t = t.lower()
        d = deltas.get(t, 0)
        if d:
            value_e18(policy, feeds, now, t, 0)  # the module reads each changed asset's feed
            o = policy.oracles[t]
            num, den = feeds[t].answer * E18, 10 ** (o.decimals + o.token_decimals)  # type: ignore[union-attr]
            if d < 0:  # outflows round up, inflows down: rounding never hides a loss
                out += _bounded(t, _ceil_div(-d * num, den))
            else:
                inn += _bounded(t, d * num // den)
    loss = max(out - inn - credit, 0)
    if loss * BPS > vg.max_loss_bps * out:
        raise Violation(
            Status.VALUE_LOSS_EXCEEDED,
            loss,
            f"the execution loses ${loss / E18:,.2f} of ${out / E18:,.2f} that leaves the Safe "
            f"(at oracle prices), over the {vg.max_loss_bps} bps per-execution bound",
        )
    roll = now >= window.start + vg.period
    if not roll and loss == 0:
        return 0
    if roll:
        # the window's base: the tracked balances before this execution (zero ones unpriced)
        base = sum(
            value_e18(policy, feeds, now, t.lower(), balances[t.lower()])
            for t in vg.tracked
            if balances.get(t.lower(), 0)
        )
        base = min(base, 2**128 - 1)
        spent = 0
    else:
        base, spent = window.base, window.loss
    if spent + loss > vg.budget_bps * base // BPS:
        raise Violation(
            Status.LOSS_BUDGET_EXCEEDED,
            spent + loss,
            f"the window's losses would reach ${(spent + loss) / E18:,.2f}, over its budget of "
            f"{vg.budget_bps} bps of ${base / E18:,.2f} (it restarts {vg.period}s after the window began)",
        )
    return loss


def plain_deltas(policy: Policy, to: str, data: bytes, value: int) -> tuple[tuple[str, int], ...]:
    """Balance changes of a call no checker prices, as far as the calldata says: an ERC-20
    transfer out of the Safe, native value sent, WETH wrapping."""
    out: list[tuple[str, int]] = []
    if value:
        out.append((ZERO, -value))
    if data[:4] == SEL_TRANSFER and len(data) >= 68:
        dest = "0x" + data[16:36].hex()
        if dest != policy.safe.lower():
            out.append((to, -int.from_bytes(data[36:68], "big")))
    elif data[:4] == SEL_WETH_DEPOSIT and value:
        out.append((to, value))
    return tuple(out)
