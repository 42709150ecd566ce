"""What the simulator lists: spot pairs, linear perpetuals and European options.

Derivatives are linear and settle in the quote currency (Deribit's USDC-margined flavour,
e.g. ``BTC_USDC-PERPETUAL``), which keeps cash flows zero-sum and the conservation
property simple: every trade moves cash between two accounts and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from agent.errors import ValidationError


class SimKind(StrEnum):
    SPOT = "spot"
    PERPETUAL = "perpetual"
    OPTION = "option"


@dataclass(frozen=True, slots=True)
class SimInstrument:
    name: str  # the venue's id: BTCUSDT, BTC_USDC-PERPETUAL, BTC_USDC-27NOV26-60000-C
    kind: SimKind
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_amount: Decimal
    strike: Decimal | None = None
    expiry_ms: int | None = None
    is_call: bool | None = None
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    max_price: Decimal = Decimal(1_000_000)  # PRICE_FILTER maxPrice
    min_notional: Decimal = Decimal(0)  # NOTIONAL minNotional (quote units), 0 = none
    max_notional: Decimal = Decimal(9_000_000)  # NOTIONAL maxNotional
    iceberg_parts: int = 10  # ICEBERG_PARTS limit: at most this many slices

    @property
    def settle(self) -> str:
        return self.quote

    @property
    def is_derivative(self) -> bool:
        return self.kind is not SimKind.SPOT

    def check_price(self, price: Decimal) -> str | None:
        if price <= 0:
            return "price must be positive"
        if price % self.tick:
            return f"price {price} is not a multiple of tick {self.tick}"
        if price > self.max_price:
            return f"price {price} is above the maximum {self.max_price}"
        return None

    def check_notional(self, notional: Decimal) -> str | None:
        """Binance's NOTIONAL filter: price * quantity within [minNotional, maxNotional]."""
        if notional < self.min_notional:
            return f"notional {notional} is below the minimum {self.min_notional}"
        if notional > self.max_notional:
            return f"notional {notional} is above the maximum {self.max_notional}"
        return None

    def check_display(
        self, display: Decimal, amount: Decimal, price: Decimal | None, tif: object
    ) -> str | None:
        """An iceberg's displayed quantity: a lot multiple below the order's size, on a GTC
        limit order, in at most ``iceberg_parts`` slices."""
        if price is None or str(tif) != "GTC":
            return "an iceberg must be a GTC limit order"
        if display <= 0 or display >= amount:
            return f"displayed quantity {display} must be above 0 and below the order's {amount}"
        if display % self.lot:
            return f"displayed quantity {display} is not a multiple of lot {self.lot}"
        if -(-amount // display) > self.iceberg_parts:
            return f"{amount} in slices of {display} is more than {self.iceberg_parts} parts"
        return None

    def check_amount(self, amount: Decimal) -> str | None:
        if amount <= 0:
            return "amount must be positive"
        if amount < self.min_amount:
            return f"amount {amount} is below the minimum {self.min_amount}"
        if amount % self.lot:
            return f"amount {amount} is not a multiple of lot {self.lot}"
        return None


def option_name(underlying: str, quote: str, expiry_ms: int, strike: Decimal, is_call: bool) -> str:
    d = datetime.fromtimestamp(expiry_ms / 1000, tz=UTC)
    day = str(d.day)  # Deribit writes 1NOV26, not 01NOV26
    k = format(strike.normalize(), "f")
    return f"{underlying}_{quote}-{day}{d:%b%y}".upper() + f"-{k}-{'C' if is_call else 'P'}"


def parse_instrument_list(spec: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in spec.split(",") if s.strip())
    if not names:
        raise ValidationError("instruments", "is empty", "give e.g. BTCUSDT,ETHUSDT")
    return names


BINANCE_FEE = Decimal("0.001")  # Binance spot's default (VIP 0, no BNB discount): 0.1%


def default_spot() -> list[SimInstrument]:
    spot = dict(maker_fee=BINANCE_FEE, taker_fee=BINANCE_FEE, min_notional=Decimal(5))
    return [
        SimInstrument(
            "BTCUSDT",
            SimKind.SPOT,
            "BTC",
            "USDT",
            Decimal("0.01"),
            Decimal("0.00001"),
            Decimal("0.00001"),
            **spot,
        ),
        SimInstrument(
            "ETHUSDT",
            SimKind.SPOT,
            "ETH",
            "USDT",
            Decimal("0.01"),
            Decimal("0.0001"),
            Decimal("0.0001"),
            **spot,
        ),
    ]


def default_deribit(now_ms: int, spot: Decimal, underlying: str = "BTC") -> list[SimInstrument]:
    """A perpetual plus calls and puts at a few strikes for two expiries (08:00 UTC, like Deribit)."""
    out = [
        SimInstrument(
            f"{underlying}_USDC-PERPETUAL",
            SimKind.PERPETUAL,
            underlying,
            "USDC",
            Decimal("0.5"),
            Decimal("0.001"),
            Decimal("0.001"),
        )
    ]
    day_ms = 86_400_000
    first = (now_ms // day_ms + 1) * day_ms + 8 * 3_600_000
    step = Decimal(10) ** max(0, int(math.log10(float(spot))) - 1)  # 5000 for BTC ~ 60k
    atm = (spot / step).to_integral_value() * step
    for expiry in (first, first + 7 * day_ms):
        for k_off in (-2, -1, 0, 1, 2):
            strike = atm + k_off * step
            for is_call in (True, False):
                out.append(
                    SimInstrument(
                        option_name(underlying, "USDC", expiry, strike, is_call),
                        SimKind.OPTION,
                        underlying,
                        "USDC",
                        Decimal("0.5"),
                        Decimal("0.01"),
                        Decimal("0.01"),
                        strike=strike,
                        expiry_ms=expiry,
                        is_call=is_call,
                        maker_fee=Decimal("0.0003"),
                        taker_fee=Decimal("0.0003"),
                    )
                )
    return out
