"""Pure parts of the swap path: fills from Transfer logs, the policy's price source."""

from __future__ import annotations

from decimal import Decimal

from agent.execution.fills import TRANSFER_TOPIC, fill_event, safe_legs, transfers
from agent.execution.risk import QuotePrices, reference_price
from agent.model import Side
from agent.oms.events import OrderFilled, OrderInitialized, OrderPartiallyFilled
from agent.oms.order import initialize

SAFE = "0x" + "5a" * 20
POOL = "0x" + "70" * 20
USDC = "0x" + "0c" * 20
WETH = "0x" + "e7" * 20


def log(token: str, frm: str, to: str, amount: int) -> dict:
    pad = "0x" + "00" * 12
    return {
        "address": token,
        "topics": [TRANSFER_TOPIC, pad + frm[2:], pad + to[2:]],
        "data": hex(amount),
    }


def order(side: Side, qty: str) -> object:
    return initialize(OrderInitialized("o", "WETH/USDC", side, Decimal(qty)))


def test_legs_count_only_the_safes_own_transfers() -> None:
    logs = [
        log(USDC, SAFE, POOL, 3_000_000_000),
        log(WETH, POOL, SAFE, 10**18),
        log(WETH, POOL, "0x" + "99" * 20, 5),  # someone else's transfer in the same receipt
        {"address": WETH, "topics": [TRANSFER_TOPIC], "data": "0x1"},  # not an ERC-20 Transfer
    ]
    assert len(transfers(logs, WETH)) == 2
    assert safe_legs(logs, SAFE.upper().replace("0X", "0x"), USDC, WETH) == (3_000_000_000, 10**18)


def test_buy_fill_is_the_base_received_at_the_paid_price() -> None:
    ev = fill_event(order(Side.BUY, "1"), "0xh", 3_000_500_000, 10**18, 6, 18)
    assert isinstance(ev, OrderFilled)
    assert (ev.trade_id, ev.quantity, ev.price) == ("0xh", Decimal(1), Decimal("3000.5"))


def test_sell_fill_and_partial_and_nothing() -> None:
    ev = fill_event(order(Side.SELL, "2"), "0xs", 10**18, 2_900_000_000, 18, 6)
    assert isinstance(ev, OrderPartiallyFilled) and ev.quantity == 1 and ev.price == 2900
    assert fill_event(order(Side.SELL, "2"), "0xz", 0, 0, 18, 6) is None
    big = fill_event(order(Side.BUY, "1"), "0xb", 6 * 10**9, 2 * 10**18, 6, 18)
    assert isinstance(big, OrderFilled) and big.quantity == 1  # never overfills


async def test_quote_prices_for_the_policy_guard() -> None:
    p = QuotePrices()
    assert await p("WETH", "USD") is None  # never quoted: no price, the guard denies
    p.observe("WETH", "USDC", Decimal(3000))
    p.observe("WBTC", "WETH", Decimal(20))  # not against a dollar: ignored
    assert await p("WETH", "USD") == 3000 and await p("USDC", "USD") == 1
    assert await p("USDC", "WETH") == Decimal(1) / 3000
    assert await p("WBTC", "USD") is None
    assert reference_price([Decimal(1), Decimal(5), Decimal(2)]) == 2
    assert reference_price([]) is None
