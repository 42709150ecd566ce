"""Nonce manager: unique and contiguous under concurrency, resync, far-ahead refusal."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.chain.nonce import NonceManager, NonceTooFarAheadError


class FakeChain:
    """Just the two counts the manager reads (pure-logic unit test)."""

    def __init__(self, latest=0, pending=None):
        self.latest = latest
        self.pending = latest if pending is None else pending
        self.calls = 0

    async def batch(self, calls):
        self.calls += 1
        await asyncio.sleep(0)  # yield, so concurrent reservers interleave here
        return [hex(self.latest), hex(self.pending)]


async def test_concurrent_reservations_are_unique_and_contiguous():
    nm = NonceManager(FakeChain(latest=5), "0xabc", max_gap=1000)
    got = await asyncio.gather(*(nm.reserve() for _ in range(200)))
    assert sorted(got) == list(range(5, 205))


async def test_release_fills_the_hole_first():
    nm = NonceManager(FakeChain(), "0xabc")
    _a, b, c = [await nm.reserve() for _ in range(3)]
    nm.release(b)
    assert await nm.reserve() == b
    nm.release(c)
    assert await nm.reserve() == c
    nm.release(c)
    nm.release(b)  # top run folds back
    assert nm.next_nonce == b


async def test_resync_when_account_sent_elsewhere():
    chain = FakeChain(latest=0)
    nm = NonceManager(chain, "0xabc")
    assert await nm.reserve() == 0
    chain.latest = chain.pending = 7  # six more mined from another wallet
    s = await nm.sync()
    assert s.jumped_from == 1 and s.next_nonce == 7
    assert await nm.reserve() == 7


async def test_far_ahead_is_refused_and_nothing_reserved():
    chain = FakeChain(latest=3)
    nm = NonceManager(chain, "0xabc", max_gap=4)
    assert [await nm.reserve() for _ in range(4)] == [3, 4, 5, 6]
    with pytest.raises(NonceTooFarAheadError, match="ahead of the chain"):
        await nm.reserve()
    assert nm.next_nonce == 7
    chain.pending = 7  # the pool caught up
    assert await nm.reserve() == 7


async def test_seed_from_journal_raises_floor():
    nm = NonceManager(FakeChain(latest=2), "0xabc")
    await nm.sync()
    nm.seed(5)
    assert await nm.reserve() == 5


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("reserve"), st.integers(1, 5)),
            st.tuples(st.just("release"), st.integers(0, 10)),
            st.tuples(st.just("mine"), st.integers(0, 3)),
            st.tuples(st.just("external"), st.integers(1, 3)),
        ),
        max_size=40,
    )
)
def test_model(ops):
    """Against a model: held nonces are unique, never below the mined count, and together with
    the mined ones form a contiguous range (no gap) up to next_nonce."""

    async def go():
        chain = FakeChain()
        nm = NonceManager(chain, "0xabc", max_gap=10**6)
        await nm.sync()
        held: set[int] = set()  # reserved by us, not mined, not released
        for op, k in ops:
            if op == "reserve":
                got = await asyncio.gather(*(nm.reserve() for _ in range(k)))
                assert len(set(got)) == k and not (set(got) & held)
                assert all(g >= chain.latest for g in got)
                held |= set(got)
            elif op == "release" and held:
                n = sorted(held)[k % len(held)]
                held.discard(n)
                nm.release(n)
            elif op == "mine":
                # the chain mines our lowest held nonces that are contiguous from `latest`
                for _ in range(k):
                    if chain.latest in held:
                        held.discard(chain.latest)
                        chain.latest += 1
                chain.pending = max(chain.pending, chain.latest)
                await nm.sync()
            elif op == "external":
                # another wallet uses the next nonces: our held ones below become unminable
                chain.latest = max(chain.latest, min(held, default=chain.latest)) + k
                chain.pending = max(chain.pending, chain.latest)
                await nm.sync()
                held = {h for h in held if h >= chain.latest}
            free = set(range(chain.latest, nm._next)) - held
            assert free == set(nm._holes), (free, nm._holes)

    asyncio.run(go())


async def test_reserve_many_is_contiguous_under_concurrency_and_all_or_none():
    chain = FakeChain(latest=0)
    nm = NonceManager(chain, "0xabc", max_gap=100)
    a, b = await asyncio.gather(nm.reserve_many(30), nm.reserve_many(30))
    assert a == list(range(30)) and b == list(range(30, 60))
    with pytest.raises(NonceTooFarAheadError):
        await nm.reserve_many(41)  # would reach nonce 100
    assert nm.next_nonce == 60  # nothing taken
    nm.observe_sent(list(range(0, 50)))  # the node accepted them: the pool count follows
    assert nm.chain_pending == 50
    nm.observe_sent([55])  # after a hole: not contiguous, the count stays
    assert nm.chain_pending == 50
    assert await nm.reserve_many(41) == list(range(60, 101))
