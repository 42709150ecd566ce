"""Option series as the market contract defines them, and the contract's exact arithmetic.

Units: ``strike``/``cap``/quote ``price`` are quote-asset base units per ONE WHOLE unit of
the underlying (3000 USDC strike on WETH = 3000 * 10**6); option amounts are underlying base
units (1 WETH of notional = 10**18). The collateral/premium helpers round exactly like the
contract (up for what a writer posts or a payer pays), so approvals match to the unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from agent.deploy.manifest import Manifest
from agent.errors import ValidationError
from agent.model import OptionContract, OptionKind

SERIES_ABI = "(address,address,address,address,uint128,uint128,uint64,bool)"
_TYPES = ["address", "address", "address", "address", "uint128", "uint128", "uint64", "bool"]


@dataclass(frozen=True, slots=True)
class SeriesTerms:
    underlying: str
    quote_asset: str
    collateral: str
    feed: str
    strike: int
    cap: int
    expiry: int
    is_call: bool
    underlying_decimals: int = 18
    quote_decimals: int = 6

    def as_tuple(self) -> tuple:
        return (
            to_checksum_address(self.underlying),
            to_checksum_address(self.quote_asset),
            to_checksum_address(self.collateral),
            to_checksum_address(self.feed),
            self.strike,
            self.cap,
            self.expiry,
            self.is_call,
        )

    @property
    def series_id(self) -> int:
        return int.from_bytes(keccak(encode(_TYPES, list(self.as_tuple()))), "big")

    @property
    def unit(self) -> int:
        return 10**self.underlying_decimals

    @property
    def kind(self) -> OptionKind:
        return OptionKind.CALL if self.is_call else OptionKind.PUT

    @property
    def collateral_is_underlying(self) -> bool:
        return self.collateral.lower() == self.underlying.lower()

    def to_wire(self) -> dict[str, object]:
        return {
            "underlying": self.underlying, "quoteAsset": self.quote_asset,
            "collateral": self.collateral, "feed": self.feed, "strike": str(self.strike),
            "cap": str(self.cap), "expiry": str(self.expiry), "isCall": self.is_call,
            "underlyingDecimals": self.underlying_decimals, "quoteDecimals": self.quote_decimals,
        }  # fmt: skip

    @classmethod
    def from_wire(cls, d: object) -> SeriesTerms:
        if not isinstance(d, dict):
            raise ValidationError("series", f"is {type(d).__name__}, not an object")
        try:
            t = cls(
                to_checksum_address(d["underlying"]), to_checksum_address(d["quoteAsset"]),
                to_checksum_address(d["collateral"]), to_checksum_address(d["feed"]),
                int(d["strike"]), int(d["cap"]), int(d["expiry"]), bool(d["isCall"]),
                int(d.get("underlyingDecimals", 18)), int(d.get("quoteDecimals", 6)),
            )  # fmt: skip
        except KeyError as e:
            raise ValidationError(f"series.{e.args[0]}", "is missing") from None
        except (TypeError, ValueError) as e:
            raise ValidationError("series", f"malformed: {e}") from None
        if t.strike <= 0 or t.strike >= 2**128 or t.cap < 0 or t.cap >= 2**128:
            raise ValidationError("series.strike", f"{t.strike} is outside uint128 (> 0)")
        if not (0 <= t.underlying_decimals <= 36 and 0 <= t.quote_decimals <= 36):
            raise ValidationError("series.decimals", "outside 0..36")
        return t


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def collateral_for(s: SeriesTerms, amount: int) -> int:
    """Mirror of OptionMath.maxPayoff: collateral that fully covers ``amount`` options."""
    if s.collateral_is_underlying:
        return amount
    per_unit = s.cap - s.strike if s.is_call else s.strike
    return ceil_div(per_unit * amount, s.unit)


def premium_for(price: int, amount: int, unit: int) -> int:
    """Mirror of the market's premium: ceil(price * amount / unit)."""
    return ceil_div(price * amount, unit)


def terms_for(
    option: OptionContract,
    manifest: Manifest,
    *,
    feed: str,
    call_collateral: str = "underlying",
    cap: Decimal | None = None,
) -> SeriesTerms:
    """The on-chain terms of ``option`` on ``manifest``'s chain. Calls are collateralized in
    the underlying unless ``call_collateral="quote"`` (then ``cap`` bounds the payoff)."""
    u = manifest.token(option.underlying)
    q = manifest.token(option.quote)
    strike = _quote_units(option.strike, q.decimals, "option.strike")
    expiry = int(option.expiry.astimezone(UTC).timestamp())
    if option.kind is OptionKind.CALL and call_collateral == "underlying":
        collateral, cap_units = u.address, 0
    elif option.kind is OptionKind.CALL:
        if cap is None or cap <= option.strike:
            raise ValidationError(
                "cap", f"{cap} must exceed the strike {option.strike}",
                "a quote-collateralized call needs a payoff cap above its strike",
            )  # fmt: skip
        collateral, cap_units = q.address, _quote_units(cap, q.decimals, "cap")
    else:
        collateral, cap_units = q.address, 0
    return SeriesTerms(
        u.address, q.address, collateral, feed, strike, cap_units, expiry,
        option.kind is OptionKind.CALL, u.decimals, q.decimals,
    )  # fmt: skip


def _quote_units(x: Decimal, decimals: int, field: str) -> int:
    from agent.model import to_base_units

    return to_base_units(x, decimals, field=field)


def expiry_datetime(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def payoff(s: SeriesTerms, price: int, amount: int, *, round_up: bool) -> int:
    """Mirror of OptionMath.payoff: what ``amount`` options pay at settlement ``price`` (quote
    base units per whole underlying), in the collateral asset. ``round_up`` for what a writer
    owes, down for what a holder receives, exactly as the contract rounds."""

    def div(a: int, b: int) -> int:
        return ceil_div(a, b) if round_up else a // b

    if s.is_call:
        if price <= s.strike:
            return 0
        if s.collateral_is_underlying:
            return div((price - s.strike) * amount, price)
        return div((min(price, s.cap) - s.strike) * amount, s.unit)
    if price >= s.strike:
        return 0
    return div((s.strike - price) * amount, s.unit)
