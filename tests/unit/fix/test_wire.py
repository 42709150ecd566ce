"""Framing: whole messages out of any chunking; garbled ones dropped, the next one found."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.service.fix.wire import Framer, Garbled, build

values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20
)


def msgs(n: int, vals: list[str]) -> list[bytes]:
    return [
        build("D", "A", "B", i + 1, [(11, v), (58, v)])
        for i, v in zip(range(n), vals, strict=False)
    ]


@given(
    st.lists(values, min_size=1, max_size=6), st.lists(st.integers(1, 40), min_size=1, max_size=50)
)
def test_any_chunking_yields_the_same_messages(vals: list[str], cuts: list[int]) -> None:
    raws = msgs(len(vals), vals)
    data = b"".join(raws)
    f, out, i = Framer(), [], 0
    for c in cuts * (len(data) // max(1, sum(cuts)) + 1):
        if i >= len(data):
            break
        out += f.feed(data[i : i + c])
        i += c
    out += f.feed(data[i:])
    assert [m.get(11).decode() for m in out] == vals


@given(st.lists(values, min_size=3, max_size=6), st.data())
def test_a_garbled_message_is_dropped_and_the_rest_kept(
    vals: list[str], data: st.DataObject
) -> None:
    raws = msgs(len(vals), vals)
    k = data.draw(st.integers(0, len(raws) - 1))
    how = data.draw(st.sampled_from(["checksum", "longer", "shorter"]))
    bad = bytearray(raws[k])
    if how == "checksum":
        cs = int(bad[-4:-1])
        bad[-4:-1] = f"{(cs + 1) % 256:03d}".encode()
    else:
        p = bad.index(b"\x019=") + 3
        q = bad.index(b"\x01", p)
        n = int(bad[p:q]) + (5 if how == "longer" else -5)
        bad[p:q] = str(n).encode()
    raws[k] = bytes(bad)
    # a message after the bad one: a too-long BodyLength can only be told once more arrives
    tail = build("D", "A", "B", 99, [(11, "tail"), (58, "tail")])
    out = Framer().feed(b"".join(raws) + tail)
    good = [m.get(11).decode() for m in out if not isinstance(m, Garbled)]
    assert good == [*vals[:k], *vals[k + 1 :], "tail"]
    assert any(isinstance(m, Garbled) for m in out)
