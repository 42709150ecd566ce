"""SimulationGuard's wiring over a programmable JSON-RPC node (real HTTP, no chain): the
expectation registered for exactly the calls checked, the policy guard given the simulated
deltas, every simulation journaled (TxSimulated, decoded back from a real SQLite journal),
mode call never tracing; and the intent's bounds built from quotes alone."""

from __future__ import annotations

import pytest

from agent.chain.rpc import RpcClient
from agent.chain.simulate import ETH, TRANSFER, ZERO, Expectation, SimulationGuard
from agent.deploy.manifest import Manifest, TokenInfo
from agent.errors import ValidationError
from agent.execution.swap import expectation_for
from agent.journal import SqliteJournal
from agent.model import Quote, Side
from agent.model.decisions import Allow, Deny
from agent.oms.events import TxSimulated, sim_stream
from agent.wallet.multisend import Call

from .fakenode import FakeNode

SAFE = "0x" + "5a" * 20
OP = "0x" + "0e" * 20
MODULE = "0x" + "4d" * 20
MS = "0x" + "35" * 20
TOKEN = "0x" + "70" * 20
POOL = "0x" + "0b" * 20


def _t(a: str) -> str:
    return "0x" + "00" * 12 + a[2:]


class Inner:
    """A policy guard stand-in that records what it was given."""

    def __init__(self, deny: bool = False) -> None:
        self.seen: list[object] = []
        self.deny = deny

    async def check(self, calls, deltas=None):  # type: ignore[no-untyped-def]
        self.seen.append(deltas)
        return Deny("POLICY_X", "no", "rule") if self.deny else Allow("policy", "")


@pytest.fixture
async def node():
    n = await FakeNode().start()

    def trace(p):  # the Safe receives 9 of TOKEN and 5 wei of ETH
        if p[2]["tracer"] == "callTracer":
            lg = {"address": TOKEN, "topics": [TRANSFER, _t(POOL), _t(SAFE)],
                  "data": hex(9)}  # fmt: skip
            eth = {"type": "CALL", "from": POOL, "to": SAFE, "value": "0x5"}
            return {"type": "CALL", "gasUsed": "0x10", "logs": [lg], "calls": [eth]}
        return {"pre": {SAFE: {"balance": "0x0"}}, "post": {SAFE: {"balance": "0x5"}}}

    n.methods["debug_traceCall"] = trace
    n.methods["eth_call"] = lambda p: "0x"
    rpc = await RpcClient(n.url).connect()
    yield n, rpc
    await rpc.close()
    await n.stop()


A = (Call(TOKEN, b"\x01"),)
B = (Call(TOKEN, b"\x02"),)


async def test_expectations_by_calls_deltas_to_the_policy_and_the_journal(node, tmp_path):
    _, rpc = node
    j = SqliteJournal(tmp_path / "j.sqlite")
    inner = Inner()
    g = SimulationGuard(
        rpc, operator=OP, module=MODULE, multisend=MS, safe=SAFE, inner=inner, journal=j,
        chain_id=7,
    )  # fmt: skip
    g.expect(Expectation(ETH, 0, TOKEN, 10), A, "o-a")  # wants 10: the call gives 9
    g.expect(Expectation(ETH, 0, TOKEN, 9), B, "o-b")
    d_b = await g.check(B)  # checked against B's expectation, not the last registered
    d_a = await g.check(A)
    assert d_b.allowed, d_b
    assert d_a.code == "SIMULATION_MISMATCH" and "below the intent's 10" in d_a.reason
    # the policy saw the simulated deltas (native ETH under the zero address)
    assert inner.seen == [{TOKEN: 9, ZERO: 5}] * 2
    # consumed: the same calls again are bounded by their own approvals (none: pays nothing)
    assert (await g.check(A)).allowed
    (ra,) = [r.event for r in j.read_stream(sim_stream("o-a"))]
    assert isinstance(ra, TxSimulated) and ra.verdict == "deny"
    assert ra.code == "SIMULATION_MISMATCH" and ra.chain_id == 7 and ra.traced
    assert {(d.asset, d.amount) for d in ra.deltas} == {(TOKEN, 9), (ETH, 5)}
    assert "at least 10" in ra.expected
    (rb,) = [r.event for r in j.read_stream(sim_stream("o-b"))]
    assert rb.verdict == "allow"
    unattributed = list(j.read_stream(sim_stream("", 7, SAFE)))
    assert len(unattributed) == 1 and unattributed[0].event.expected.startswith("the batch")
    j.close()


async def test_a_policy_deny_wins_and_call_mode_never_traces(node):
    n, rpc = node
    g = SimulationGuard(
        rpc, operator=OP, module=MODULE, multisend=MS, safe=SAFE, inner=Inner(deny=True)
    )
    assert (await g.check(A)).code == "POLICY_X"
    traced = []
    n.methods["debug_traceCall"] = lambda p: traced.append(p)
    g = SimulationGuard(rpc, operator=OP, module=MODULE, multisend=MS, safe=SAFE, mode="call")
    g.expect(Expectation(ETH, 0, TOKEN, 10**30), A)
    d = await g.check(A)  # untraced: allowed with the warning, deltas unchecked
    assert d.allowed and "eth_call" in d.note and traced == []
    assert g.last is not None and not g.last.traced
    with pytest.raises(ValidationError, match="not a mode"):
        SimulationGuard(rpc, operator=OP, module=MODULE, multisend=MS, safe=SAFE, mode="nope")  # type: ignore[arg-type]


def test_expectation_from_quotes_summed_per_token():
    usdc = TokenInfo("USDC", "0x" + "aa" * 20, 6)
    weth = TokenInfo("WETH", "0x" + "bb" * 20, 18)
    m = Manifest(1, "t", 0, {"SwapRouter": "0x" + "cc" * 20}, {"USDC": usdc, "WETH": weth})
    buy = [
        Quote("v2", Side.BUY, "USDC", "WETH", 3_000_000, 10**15, 30),
        Quote("v3", Side.BUY, "USDC", "WETH", 1_000_001, 3 * 10**14, 30),
    ]
    e = expectation_for(m, buy, 50)
    # exact out: pay at most each quote in + 0.5% (rounded down, never looser), get it all
    assert e.token_in == usdc.address and e.token_out == weth.address
    assert e.max_in == 3_015_000 + 1_005_001 and e.min_out == 13 * 10**14
    assert e.spenders == frozenset({"0x" + "cc" * 20})
    sell = [Quote("v2", Side.SELL, "WETH", "USDC", 10**18, 3_000_001, 30)]
    e = expectation_for(m, sell, 100)
    assert (e.max_in, e.min_out) == (10**18, 2_970_001)  # min out rounded up
    mixed = [buy[0], sell[0]]
    assert expectation_for(m, mixed, 50) is None  # not one pair: nothing to compare
