"""Asset deltas from traces (a recorded anvil trace of a real Safe -> PolicyModule ->
MultiSend -> Uniswap V3 exact-out buy of 2 WETH, and hand-made frames for the edge cases),
the intent check, and the node modes (refuse / eth_call fallback) against a programmable
JSON-RPC node over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.simulate import (
    APPROVAL,
    DEPOSIT,
    ETH,
    TRANSFER,
    CallRequest,
    Expectation,
    SimulationUnavailableError,
    check,
    extract_deltas,
    simulate,
)

from .fakenode import FakeNode, NodeError

REC = json.loads((Path(__file__).parent / "data" / "swap_trace.json").read_text())
SAFE = REC["safe"]
WETH = "0x5fbdb2315678afecb367f032d93f642f64180aa3"  # the dev world's tokens in the recording
USDC = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"
ME = "0x" + "5a" * 20
OTHER = "0x" + "0b" * 20
TOKEN = "0x" + "70" * 20


def t(a: str) -> str:
    return "0x" + "00" * 12 + a[2:]


def log(kind: str, src: str, dst: str, amount: int, token: str = TOKEN) -> dict:
    return {"address": token, "topics": [kind, t(src), t(dst)], "data": hex(amount)}


def test_recorded_swap_deltas():
    d = extract_deltas(REC["calls"], REC["prestate"], SAFE)
    assert d.net(WETH) == 2 * 10**18
    paid = -d.net(USDC)
    assert 6_000 * 10**6 < paid < 7_000 * 10**6  # ~3000 USDC/WETH on the dev pools
    assert set(d.tokens) == {WETH, USDC} and d.eth == 0
    # approve(router, max), swap, approve(router, 0): the allowance left is 0
    assert len(d.approvals) == 1 and d.approvals[0].amount == 0 and d.approvals[0].token == USDC
    # the USDC the Safe paid is exactly the USDC transfers out of it
    outs = [x.amount for x in d.transfers if x.token == USDC and x.src == SAFE.lower()]
    assert sum(outs) == paid


def test_recorded_swap_checks():
    from agent.chain.simulate import Simulation

    d = extract_deltas(REC["calls"], REC["prestate"], SAFE)
    paid = -d.net(USDC)
    sim = Simulation(CallRequest(ME, OTHER, b""), "latest", True, None, d, True)
    router = d.approvals[0].spender
    ok = Expectation(USDC, paid, WETH, 2 * 10**18, frozenset({router}))
    assert check(sim, ok).allowed
    for exp, words in (
        (Expectation(USDC, paid - 1, WETH, 2 * 10**18, frozenset({router})), "would pay"),
        (Expectation(USDC, paid, WETH, 2 * 10**18 + 1, frozenset({router})), "below"),
        (Expectation(USDC, paid, WETH, 2 * 10**18), "approves"),
        (Expectation(WETH, 0, ETH, 0, frozenset({router})), "lose"),  # USDC not traded
    ):
        dec = check(sim, exp)
        assert not dec.allowed and dec.code == "SIMULATION_MISMATCH" and words in dec.reason


def test_reverted_frames_do_not_count():
    frame = {
        "type": "CALL",
        "logs": [log(TRANSFER, ME, OTHER, 5)],
        "calls": [
            {
                "type": "CALL",
                "error": "execution reverted",
                "logs": [log(TRANSFER, ME, OTHER, 100)],
            },
            {"type": "CALL", "calls": [{"type": "CALL", "logs": [log(TRANSFER, OTHER, ME, 7)]}]},
        ],
    }
    d = extract_deltas(frame, {}, ME)
    assert d.net(TOKEN) == 2 and len(d.transfers) == 2


def test_eth_weth_erc721_and_leftover_approval():
    nft = {
        "address": TOKEN,
        "topics": [TRANSFER, t(ME), t(OTHER), t("0x" + "01" * 20)],
        "data": "0x",
    }
    frame = {
        "logs": [
            nft,
            {"address": WETH, "topics": [DEPOSIT, t(ME)], "data": hex(10**18)},
            log(APPROVAL, ME, OTHER, 55),
            log(APPROVAL, OTHER, ME, 99),  # someone else's approval: not the Safe's
        ]
    }
    diff = {"pre": {ME: {"balance": hex(5 * 10**18)}}, "post": {ME: {"balance": hex(4 * 10**18)}}}
    d = extract_deltas(frame, diff, ME.upper().replace("0X", "0x"))
    assert d.eth == -(10**18) and d.net(WETH) == 10**18 and TOKEN not in d.tokens
    assert [(a.spender, a.amount) for a in d.approvals] == [(OTHER, 55)]
    from agent.chain.simulate import Simulation

    sim = Simulation(CallRequest(ME, OTHER, b""), "latest", True, None, d, True)
    dec = check(sim, Expectation(ETH, 10**18, WETH, 10**18, frozenset({OTHER})))
    assert not dec.allowed and "leaves an allowance of 55" in dec.reason
    # account created by the call (absent from pre): its whole post balance is the delta
    d2 = extract_deltas({}, {"pre": {}, "post": {ME: {"balance": "0x10"}}}, ME)
    assert d2.eth == 16


def test_eth_from_the_call_tree():
    from agent.chain.simulate import eth_from_calls

    def f(kind, src, dst, value, *calls, error=None):
        fr = {"type": kind, "from": src, "to": dst, "value": hex(value), "calls": list(calls)}
        if error:
            fr["error"] = error
        return fr

    tree = f(
        "CALL", OTHER, ME, 0,
        f("CALL", ME, OTHER, 5),  # pays 5
        f("DELEGATECALL", ME, TOKEN, 1000, f("CALL", ME, TOKEN, 3)),  # value stays; 3 leaves
        f("CALLCODE", ME, TOKEN, 1000),  # runs in ME's own context: nothing moves
        f("CALL", OTHER, ME, 100, error="execution reverted"),  # rolled back
        f("CALL", TOKEN, OTHER, 0, f("CALL", TOKEN, ME.upper().replace("0X", "0x"), 40)),
        f("SELFDESTRUCT", TOKEN, ME, 7),
        f("CREATE", ME, OTHER, 2),
        {"type": "STATICCALL", "from": ME, "to": OTHER},
    )  # fmt: skip
    assert eth_from_calls(tree, ME) == -5 - 3 + 40 + 7 - 2
    assert extract_deltas(tree, None, ME).eth == 37
    assert eth_from_calls({**tree, "error": "reverted"}, ME) == 0
    # the recorded swap moves no ETH either way
    assert extract_deltas(REC["calls"], None, SAFE) == extract_deltas(
        REC["calls"], REC["prestate"], SAFE
    )


@pytest.fixture
async def node():
    n = await FakeNode().start()
    rpc = await RpcClient(n.url).connect()
    yield n, rpc
    await rpc.close()
    await n.stop()


CALL = CallRequest(ME, OTHER, b"\x01\x02", value=3)


async def test_node_without_tracing_refuses_or_falls_back(node):
    n, rpc = node
    n.methods["eth_call"] = lambda p: "0x"
    with pytest.raises(SimulationUnavailableError) as info:
        await simulate(rpc, CALL, ME)  # debug_traceCall: method not found
    assert info.value.code == "SIMULATION_UNAVAILABLE" and "fallback" in info.value.message
    sim = await simulate(rpc, CALL, ME, mode="fallback")
    assert sim.ok and not sim.traced and sim.deltas is None and "eth_call" in sim.warning
    assert check(sim, Expectation(ETH, 0, ETH, 0)).allowed

    def revert(p):
        raise NodeError(3, "execution reverted: nope")

    n.methods["eth_call"] = revert
    sim = await simulate(rpc, CALL, ME, mode="fallback")
    assert not sim.ok and "nope" in sim.error
    assert check(sim, Expectation(ETH, 0, ETH, 0)).code == "SIMULATION_REVERTED"


async def test_traced_call_sends_exactly_the_call(node):
    n, rpc = node
    seen = []

    def trace(p):
        seen.append(p)
        if p[2]["tracer"] == "callTracer":
            return {"type": "CALL", "gasUsed": "0x5208", "logs": [log(TRANSFER, OTHER, ME, 9)]}
        return {"pre": {}, "post": {}}

    n.methods["debug_traceCall"] = trace
    sim = await simulate(rpc, CALL, ME, block=12)
    assert sim.ok and sim.traced and sim.deltas.net(TOKEN) == 9 and sim.gas_used == 21000
    # one trace by default: the call tree with its logs
    assert [p[0] for p in seen] == [CALL.to_rpc()] and seen[0][1] == "0xc"
    assert seen[0][0] == {"from": ME, "to": OTHER, "data": "0x0102", "value": "0x3"}
    assert seen[0][2] == {"tracer": "callTracer", "tracerConfig": {"withLog": True}}
    seen.clear()
    h = {"blockHash": "0x" + "ab" * 32, "requireCanonical": True}
    sim = await simulate(rpc, CALL, ME, block=h, prestate=True)
    assert [p[1] for p in seen] == [h, h] and sim.block == h["blockHash"]
    assert seen[1][2] == {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}
    # at the time it is signed for, not the last block's (an allowance refilled since)
    seen.clear()
    await simulate(rpc, CALL, ME, at_time=1_800_000_000)
    assert seen[0][2]["blockOverrides"] == {"time": hex(1_800_000_000)}
    n.methods["debug_traceCall"] = lambda p: {
        "type": "CALL",
        "error": "execution reverted",
        "revertReason": "TooLittleReceived",
    }
    sim = await simulate(rpc, CALL, ME)
    assert not sim.ok and sim.error == "TooLittleReceived"


def _approve(token: str, spender: str, amount: int):
    from agent.wallet.multisend import Call

    data = (
        bytes.fromhex("095ea7b3")
        + bytes(12)
        + bytes.fromhex(spender[2:])
        + amount.to_bytes(32, "big")
    )
    return Call(token, data)


def test_bounded_check_without_an_intent():
    from agent.chain.simulate import Simulation, check_bounded

    d = extract_deltas(REC["calls"], REC["prestate"], SAFE)
    sim = Simulation(CallRequest(ME, OTHER, b""), "latest", True, None, d, True)
    router = d.approvals[0].spender
    paid = -d.net(USDC)
    ok = [_approve(USDC, router, paid), _approve(USDC, router, 0)]
    assert check_bounded(sim, ok).allowed
    low = [_approve(USDC, router, paid - 1), _approve(USDC, router, 0)]
    dec = check_bounded(sim, low)
    assert not dec.allowed and dec.code == "SIMULATION_MISMATCH" and "above" in dec.reason
    dec = check_bounded(sim, [_approve(USDC, OTHER, paid)])  # trace approves someone unnamed
    assert not dec.allowed and "no call names" in dec.reason
    # the same payment but the bought WETH went elsewhere: pays and receives nothing
    gone = extract_deltas(
        {"logs": [log(TRANSFER, SAFE, OTHER, paid, USDC), log(TRANSFER, OTHER, ME, 2, WETH)]},
        {},
        SAFE,
    )
    sim2 = Simulation(CallRequest(ME, OTHER, b""), "latest", True, None, gone, True)
    dec = check_bounded(sim2, ok)
    assert not dec.allowed and "receive nothing" in dec.reason
