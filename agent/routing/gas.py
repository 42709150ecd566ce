"""Gas per leg, measured: ``eth_estimateGas`` of the leg's real calls at the pin, cached.

A leg of a Safe batch is ``approve(router, amount) -> swap -> approve(router, 0)``. We
estimate each call from a throw-away holder address with a state override that gives it the
input token's balance and allowance (the storage slots are found once per token by probing
``balanceOf`` / ``allowance`` under overrides, as Foundry's ``deal`` does), so the estimate is
the node executing the real swap on the real pool state, tick crossings included. Each
estimate includes the 21,000 intrinsic gas of a transaction of its own; the batch pays that
once, so a leg costs the sum minus it. Results are cached per venue (the cost model is a
fixed cost per leg; the cache can be dropped with :meth:`GasMeter.clear`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import keccak

from agent.chain.fees import FeeConfig, estimate_fees
from agent.chain.rpc import RpcClient
from agent.errors import RpcError, VenueError
from agent.signing.abi import encode
from agent.venues.uniswap_common import block_tag

INTRINSIC = 21_000
HOLDER = "0x000000000000000000000000000000000000dEaD"
BALANCE_OF = selector("balanceOf(address)")
ALLOWANCE = selector("allowance(address,address)")
APPROVE = selector("approve(address,uint256)")
_PROBE = 0x1234567890ABCDEF1234567890ABCDEF
_MAX_SLOT = 20


def _word(x: int | str) -> bytes:
    if isinstance(x, str):
        return bytes(12) + bytes.fromhex(x[2:])
    return x.to_bytes(32, "big")


def balance_key(holder: str, slot: int) -> str:
    return "0x" + keccak(_word(holder) + _word(slot)).hex()


def allowance_key(owner: str, spender: str, slot: int) -> str:
    return "0x" + keccak(_word(spender) + keccak(_word(owner) + _word(slot))).hex()


@dataclass
class GasMeter:
    rpc: RpcClient
    fees: FeeConfig = field(default_factory=FeeConfig)
    _units: dict[str, int] = field(default_factory=dict)
    _slots: dict[str, tuple[int, int]] = field(default_factory=dict)
    _price: int | None = None

    def clear(self) -> None:
        self._units.clear()
        self._price = None

    async def wei_per_gas(self) -> int:
        """What a leg is expected to pay per gas now: next base fee + the tip."""
        if self._price is None:
            f = await estimate_fees(self.rpc, self.fees)
            self._price = f.base_fee + f.max_priority_fee_per_gas
        return self._price

    async def _slots_of(self, token: str, spender: str, block: int | None) -> tuple[int, int]:
        got = self._slots.get(token.lower())
        if got is not None:
            return got
        tag = block_tag(block)
        want = "0x" + _PROBE.to_bytes(32, "big").hex()
        bal = allow = None
        for slot in range(_MAX_SLOT):
            if bal is None:
                r = await self.rpc.call(
                    "eth_call",
                    [
                        {"to": token, "data": "0x" + (BALANCE_OF + _word(HOLDER)).hex()},
                        tag,
                        {token: {"stateDiff": {balance_key(HOLDER, slot): want}}},
                    ],
                )
                if r == want:
                    bal = slot
            if allow is None:
                r = await self.rpc.call(
                    "eth_call",
                    [
                        {
                            "to": token,
                            "data": "0x" + (ALLOWANCE + _word(HOLDER) + _word(spender)).hex(),
                        },
                        tag,
                        {token: {"stateDiff": {allowance_key(HOLDER, spender, slot): want}}},
                    ],
                )
                if r == want:
                    allow = slot
            if bal is not None and allow is not None:
                self._slots[token.lower()] = (bal, allow)
                return bal, allow
        raise VenueError(f"cannot find the balance/allowance slots of token {token} to measure gas")

    async def leg_units(
        self,
        key: str,
        *,
        token_in: str,
        spender: str,
        amount_in: int,
        swap_to: str,
        swap_data: bytes,
        block: int | None,
    ) -> int:
        """Gas of approve + swap + approve(0) for one leg, measured once per ``key``."""
        hit = self._units.get(key)
        if hit is not None:
            return hit
        bal_slot, allow_slot = await self._slots_of(token_in, spender, block)
        big = "0x" + (amount_in * 2 + 1).to_bytes(32, "big").hex()
        funded = {
            token_in: {
                "stateDiff": {
                    balance_key(HOLDER, bal_slot): big,
                    allowance_key(HOLDER, spender, allow_slot): big,
                }
            }
        }
        tag = block_tag(block)
        approve = APPROVE + encode(["address", "uint256"], [spender, amount_in])
        revoke = APPROVE + encode(["address", "uint256"], [spender, 0])
        calls = [
            ({"from": HOLDER, "to": token_in, "data": "0x" + approve.hex()}, {}),
            ({"from": HOLDER, "to": swap_to, "data": "0x" + swap_data.hex()}, funded),
            ({"from": HOLDER, "to": token_in, "data": "0x" + revoke.hex()}, funded),
        ]
        total = 0
        for tx, override in calls:
            try:
                est = await self.rpc.call("eth_estimateGas", [tx, tag, override])
            except RpcError as e:
                raise VenueError(f"{key}: measuring the leg's gas failed: {e}") from e
            total += int(est, 16) - INTRINSIC
        self._units[key] = total
        return total

    @staticmethod
    def to_quote(units: int, wei_per_gas: int, native_in_quote: Fraction) -> int:
        """Gas as quote base units (rounded up): ``native_in_quote`` is quote base units per
        wei of the chain's native coin."""
        v = units * wei_per_gas * native_in_quote
        return -(-v.numerator // v.denominator)
