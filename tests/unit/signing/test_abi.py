"""agent.signing.abi.encode gives eth_abi's bytes, and eth_abi's errors, faster."""

from __future__ import annotations

import eth_abi
import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.signing import abi

SWAP = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"

addresses = st.binary(min_size=20, max_size=20).flatmap(
    lambda b: st.sampled_from(["0x" + b.hex(), "0x" + b.hex().upper(), to_checksum_address(b)])
)
uint = lambda bits: st.integers(min_value=0, max_value=2**bits - 1)  # noqa: E731
swaps = st.tuples(
    addresses, addresses, uint(24), addresses, uint(256), uint(256), uint(256), uint(160)
)


@settings(deadline=None)  # the property, not the speed of a shared machine
@given(addresses, uint(256))
def test_approve_args(a: str, n: int) -> None:
    assert abi.encode(["address", "uint256"], [a, n]) == eth_abi.encode(
        ["address", "uint256"], [a, n]
    )


@settings(deadline=None)  # the property, not the speed of a shared machine
@given(swaps)
def test_swap_struct(p: tuple) -> None:
    assert abi.encode([SWAP], [p]) == eth_abi.encode([SWAP], [p])


@settings(deadline=None)  # the property, not the speed of a shared machine
@given(addresses, uint(256), st.binary(max_size=300), st.integers(0, 255), st.booleans())
def test_module_execute_with_dynamic_bytes(a: str, v: int, data: bytes, op: int, b: bool) -> None:
    types = ["address", "uint256", "bytes", "uint8", "bool", "bytes", "bytes4"]
    args = [a, v, data, op, b, data[::-1], b"\x01\x02\x03\x04"]
    assert abi.encode(types, args) == eth_abi.encode(types, args)


def test_other_types_and_odd_values_go_to_eth_abi() -> None:
    for types, args in [
        (["string"], ["hello"]),
        (["uint256[]"], [[1, 2, 3]]),
        (["int256"], [-5]),
        (["address"], [b"\x11" * 20]),  # bytes address: eth_abi accepts it
        (["bytes32"], [b"ab"]),  # short bytesN: eth_abi pads it
        (["(uint256,bytes)"], [(1, b"x")]),  # dynamic tuple
        (["address"], ["0x52908400098527886E0F7030069857D2E4169Ee7"]),  # checksum off by one
    ]:
        assert abi.encode(types, args) == eth_abi.encode(types, args)


@pytest.mark.parametrize(
    ("types", "args"),
    [
        (["uint8"], [256]),
        (["uint256"], [-1]),
        (["uint256"], [True]),
        (["bool"], [1]),
        (["address"], ["0x" + "11" * 19]),
        (["bytes"], ["not bytes"]),
        ([SWAP], [(1, 2)]),
    ],
)
def test_bad_values_raise_eth_abis_error(types: list[str], args: list) -> None:
    with pytest.raises(Exception) as ours:
        abi.encode(types, args)
    with pytest.raises(Exception) as theirs:
        eth_abi.encode(types, args)
    assert type(ours.value) is type(theirs.value)
