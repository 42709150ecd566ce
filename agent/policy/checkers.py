"""Off-chain mirrors of the PolicyModule's oracle registry, its value guard and its checker
contracts (SwapPriceChecker, OptionsFillChecker, BridgeDepositChecker), in the module's
integer arithmetic so a Deny carries the status the module would revert with.

Pure: the on-chain readings (feed rounds, series terms, the value guard's window, balances)
come in the context (:class:`agent.policy.evaluator.PolicyContext`); the guard reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.policy.model import Checker, CheckerKind, Policy, Status

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
    if r is None or r.answer <= 0 or r.decimals != o.decimals:
        what = (
            "did not answer"
            if r is None
            else f"answered {r.answer}"
            if r.answer <= 0
            else f"reports {r.decimals} decimals, the policy says {o.decimals}"
        )
        raise Violation(
            Status.FEED_INVALID, int(o.feed, 16), f"feed {o.feed_name} ({o.symbol}) {what}"
        )
    if r.updated_at > now or now - r.updated_at > o.max_age:
        raise Violation(
            Status.FEED_STALE,
            int(o.feed, 16),
            f"feed {o.feed_name} ({o.symbol}) last updated at {r.updated_at}, "
            f"{now - r.updated_at}s before the block (max age {o.max_age}s)",
        )
    return amount * r.answer * E18 // (10**o.decimals * 10**o.token_decimals)


# --------------------------------------------------------------------------- decoding
def _w(data: bytes, off: int) -> int:
    if off + 32 > len(data):
        raise ValueError("calldata too short")
    return int.from_bytes(data[off : off + 32], "big")


def _addr(data: bytes, off: int) -> str:
    v = _w(data, off)
    if v >> 160:
        raise ValueError("dirty address")
    return "0x" + v.to_bytes(20, "big").hex()


def _bytes_at(data: bytes, off: int) -> bytes:
    n = _w(data, off)
    if off + 32 + n > len(data):
        raise ValueError("bytes overrun")
    return data[off + 32 : off + 32 + n]


@dataclass(frozen=True, slots=True)
class SwapTerms:
    token_in: str
    token_out: str
    amount: int  # exact in, or exact out
    bound: int  # minimum out, or maximum in
    exact_out: bool


def decode_swap(data: bytes) -> SwapTerms:
    """The SwapPriceChecker's reading of a swap; ValueError when it cannot decode it."""
    sel, a = data[:4], 4  # offsets are relative to the start of the arguments
    if sel in (SEL_V2_EXACT_IN, SEL_V2_EXACT_OUT):
        amount, bound = _w(data, a), _w(data, a + 32)
        p = a + _w(data, a + 64)
        n = _w(data, p)
        if n < 2 or p + 32 + 32 * n > len(data):
            raise ValueError("path")
        t0, t1 = _addr(data, p + 32), _addr(data, p + 32 * n)
        return SwapTerms(t0, t1, amount, bound, sel == SEL_V2_EXACT_OUT)
    if sel in (SEL_V3_EIS, SEL_V3_EOS):
        if len(data) < 4 + 8 * 32:
            raise ValueError("short")
        t0, t1 = _addr(data, a), _addr(data, a + 32)
        return SwapTerms(t0, t1, _w(data, a + 160), _w(data, a + 192), sel == SEL_V3_EOS)
    if sel in (SEL_V3_EI, SEL_V3_EO):
        t = a + _w(data, a)  # the struct (dynamic: it holds bytes)
        path = _bytes_at(data, t + _w(data, t))
        if len(path) < 43 or (len(path) - 20) % 23:
            raise ValueError("path")
        first, last = "0x" + path[:20].hex(), "0x" + path[-20:].hex()
        amount, bound = _w(data, t + 96), _w(data, t + 128)
        if sel == SEL_V3_EO:  # exactOutput's path runs from the output back to the input
            return SwapTerms(last, first, amount, bound, True)
        return SwapTerms(first, last, amount, bound, False)
    raise ValueError("not a swap the checker knows")


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


def decode_fills(data: bytes) -> list[Fill]:
    """``fillQuotes(Order[])`` -> its orders; ValueError when it cannot be decoded."""
    if data[:4] != SEL_FILL:
        raise ValueError("not fillQuotes")
    a = 4
    arr = a + _w(data, a)
    n = _w(data, arr)
    if n == 0 or n > (len(data) - arr) // 32:
        raise ValueError("orders")
    out = []
    for i in range(n):
        o = arr + 32 + _w(data, arr + 32 + 32 * i)
        q = o  # the quote is static: inlined at the order's head
        side = _w(data, q + 96)
        if side > 1:
            raise ValueError("side")
        _bytes_at(data, o + _w(data, o + 256))  # the signature must be in bounds
        out.append(
            Fill(
                _addr(data, q),
                _addr(data, q + 32),
                _w(data, q + 64),
                side,
                _w(data, q + 128),
                _w(data, q + 160),
                _w(data, q + 224),
                _w(data, o + 288),
            )
        )
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
) -> Checked:
    """The checker's verdict (raises Violation) and its credit, plus the worst-case balance
    changes the calldata allows (for the value guard's pre-check)."""
    if ck.kind == CheckerKind.SWAP_PRICE:
        return _swap(policy, ck, data, feeds, now)
    if ck.kind == CheckerKind.OPTIONS_FILL:
        return _options(policy, ck, to, data, feeds, series, now)
    return _bridge(policy, data, feeds, now)


def _failed(ck: Checker, why: str) -> Violation:
    return Violation(Status.CHECK_FAILED, int(ck.address, 16), why)


def _swap(
    policy: Policy, ck: Checker, data: bytes, feeds: Mapping[str, FeedRead | None], now: int
) -> Checked:
    try:
        s = decode_swap(data)
    except (ValueError, IndexError) as e:
        raise _failed(ck, f"SwapPriceChecker cannot decode the swap ({e})") from None
    dev = ck.max_deviation_bps
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
    except (ValueError, IndexError) as e:
        raise _failed(ck, f"OptionsFillChecker cannot decode the orders ({e})") from None
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


def _bridge(policy: Policy, data: bytes, feeds: Mapping[str, FeedRead | None], now: int) -> Checked:
    token, amount = _addr(data, 4), _w(data, 68)
    return Checked(value_e18(policy, feeds, now, token, amount), ((token, -amount),))


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
        d = deltas.get(t.lower(), 0)
        if d < 0:
            out += value_e18(policy, feeds, now, t.lower(), -d)
        elif d > 0:
            inn += value_e18(policy, feeds, now, t.lower(), d)
    loss = max(out - inn - credit, 0)
    if loss * BPS > vg.max_loss_bps * out:
        raise Violation(
            Status.VALUE_LOSS_EXCEEDED,
            loss,
            f"the execution loses ${loss / E18:,.2f} of ${out / E18:,.2f} that leaves the Safe "
            f"(at oracle prices), over the {vg.max_loss_bps} bps per-execution bound",
        )
    if now >= window.start + vg.period:
        base = sum(
            value_e18(policy, feeds, now, t.lower(), balances.get(t.lower(), 0)) for t in vg.tracked
        )
        spent = 0
    else:
        base, spent = window.base, window.loss
    if spent + loss > vg.budget_bps * base // BPS:
        raise Violation(
            Status.LOSS_BUDGET_EXCEEDED,
            spent + loss,
            f"the window's losses would reach ${(spent + loss) / E18:,.2f}, over its budget of "
            f"{vg.budget_bps} bps of ${base / E18:,.2f} (refills {vg.period}s after the window started)",
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
