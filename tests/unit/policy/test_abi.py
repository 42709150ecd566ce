from __future__ import annotations

import pytest
from eth_abi import encode
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import ValidationError
from agent.policy.abi import parse_signature

EIS = "exactInputSingle((address tokenIn,address tokenOut,uint24 fee,address recipient,uint256 deadline,uint256 amountIn,uint256 amountOutMinimum,uint160 sqrtPriceLimitX96) params)"
EI = "exactInput((bytes path,address recipient,uint256 deadline,uint256 amountIn,uint256 amountOutMinimum) params)"
V2 = "swapExactTokensForTokens(uint256 amountIn,uint256 amountOutMin,address[] path,address to,uint256 deadline)"


@pytest.mark.parametrize(
    ("sig", "selector"),
    [
        ("approve(address spender,uint256 amount)", "095ea7b3"),
        ("transfer(address,uint)", "a9059cbb"),
        (EIS, "414bf389"),
        (EI, "c04b8d59"),
        (V2, "38ed1739"),
        ("receive()", "00000000"),
    ],
)
def test_selectors_match_the_real_contracts(sig: str, selector: str) -> None:
    assert parse_signature(sig).selector.hex() == selector


def test_static_tuple_fields_are_inlined() -> None:
    f = parse_signature(EIS)
    assert [f.locate(f"params.{n}").word for n in ("tokenIn", "recipient", "amountIn")] == [0, 3, 5]
    assert f.locate("params.recipient").pins == ()


def test_dynamic_paths_pin_their_offsets() -> None:
    f = parse_signature(EI)
    loc = f.locate("params.path")
    assert (loc.word, loc.kind, loc.pins) == (6, "v3_path", ((0, 32), (1, 160)))
    assert f.locate("params.recipient").word == 2
    v2 = parse_signature(V2).locate("path")
    assert (v2.word, v2.kind, v2.pins) == (5, "address_array", ((2, 160),))


def test_locations_agree_with_a_real_encoder() -> None:
    f = parse_signature(EI)
    path = bytes.fromhex("aa" * 20 + "0001f4" + "bb" * 20)
    data = encode(["(bytes,address,uint256,uint256,uint256)"], [(path, "0x" + "cc" * 20, 7, 8, 9)])
    w = lambda i: int.from_bytes(data[32 * i : 32 * i + 32], "big")  # noqa: E731
    assert w(0) == 32 and w(1) == 160 and w(6) == len(path)
    assert w(f.locate("params.amountIn").word) == 8
    assert data[32 * 7 : 32 * 7 + 20] == bytes.fromhex("aa" * 20)


@given(
    st.lists(st.sampled_from(["uint256", "address", "uint24", "bool"]), min_size=1, max_size=6),
    st.data(),
)
def test_every_static_param_word_roundtrips(types: list[str], data: st.DataObject) -> None:
    sig = parse_signature("f(" + ",".join(f"{t} p{i}" for i, t in enumerate(types)) + ")")
    vals = []
    for t in types:
        if t == "address":
            vals.append("0x" + data.draw(st.binary(min_size=20, max_size=20)).hex())
        elif t == "bool":
            vals.append(data.draw(st.booleans()))
        else:
            vals.append(data.draw(st.integers(0, 2 ** int(t[4:]) - 1)))
    enc = encode(types, vals)
    for i, v in enumerate(vals):
        word = sig.locate(f"p{i}").word
        got = int.from_bytes(enc[32 * word : 32 * word + 32], "big")
        assert got == (int(v, 16) if isinstance(v, str) else int(v))


def test_second_dynamic_param_is_not_expressible() -> None:
    f = parse_signature("f(bytes a,address[] b)")
    with pytest.raises(ValidationError, match="follows another dynamic"):
        f.locate("b")


@pytest.mark.parametrize("bad", ["transfer", "transfer(adress to)", "f((uint256)", "f(uint256 1x)"])
def test_bad_signatures(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_signature(bad)
