"""k-of-n relayers as n separate processes, one key each, gathering signatures over their
local HTTP exchange: with one relayer killed (SIGKILL) the remaining k still complete a
deposit; with k-1 left the deposit waits (nothing is minted) until a relayer comes back."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from agent.bridge.events import BridgeMessageRelayed
from agent.bridge.process import RelayerSet
from agent.deploy.devworld import RELAYER_KEYS, address_of
from agent.journal import SqliteJournal

from .helpers import ALICE, eoa_deposit, l2_balance

pytestmark = pytest.mark.integration


def _until(cond: Callable[[], bool], what: str, rs: RelayerSet, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            logs = "\n".join(p.log_path.read_text()[-400:] for p in rs.processes)
            raise AssertionError(f"{what} within {timeout}s\n{logs}")
        time.sleep(0.02)  # polling the chain / a relayer's status, with a deadline


def _processed(bw, d) -> bool:
    return bw.tx("l2").call("BridgeL2", bw.l2.address("BridgeL2"), "processed", d.struct_hash)


def test_k_of_n_processes_one_key_each(bridge_world, tmp_path):
    bw = bridge_world
    base = bw.relayer_config(
        l1_from_block=int(bw.tx("l1").rpc("eth_blockNumber"), 16),
        l2_from_block=int(bw.tx("l2").rpc("eth_blockNumber"), 16),
    )
    rs = RelayerSet(base, RELAYER_KEYS, tmp_path)  # n = 3; the contracts need k = 2
    with rs:
        procs = rs.processes
        assert [p.address for p in procs] == [address_of(k) for k in RELAYER_KEYS]
        for p, k in zip(procs, RELAYER_KEYS, strict=True):
            assert k[2:] not in " ".join(p.args())  # keys never on the command line
            assert p.status()["threshold"] == {"deposit": 2, "withdrawal": 2}
        # kill the relayer that would lead (lowest address): the other two must do it alone
        order = sorted(range(3), key=lambda i: int(procs[i].address, 16))
        procs[order[0]].kill()
        before = l2_balance(bw, ALICE)
        d1 = eoa_deposit(bw, 7_000_000)
        _until(lambda: l2_balance(bw, ALICE) == before + d1.amount, "deposit minted by 2 of 3", rs)
        # the submitter journals the relay before counting it: wait for the count, so the
        # kill below cannot land between the mint and its journal record
        live = (procs[order[1]], procs[order[2]])
        _until(
            lambda: sum(p.status()["stats"]["deposits_relayed"] for p in live) == 1,
            "the submitting relayer journaled the relay", rs,
        )  # fmt: skip

        # k-1 = 1 relayer left: it sees the deposit and signs, but cannot reach the quorum
        procs[order[1]].kill()
        survivor = procs[order[2]]
        d2 = eoa_deposit(bw, 3_000_000)

        def waiting() -> bool:
            pend = {p["id"]: p for p in survivor.status()["pending"]}
            p = pend.get(d2.id_hex)
            return p is not None and p["signatures"] == 1 and p["rounds"] >= 20

        _until(waiting, "the survivor polled its peers 20 times", rs)
        assert not _processed(bw, d2) and l2_balance(bw, ALICE) == before + d1.amount
        # one relayer comes back: 2 of 3 again, and the waiting deposit completes
        procs[order[0]].start()
        _until(lambda: _processed(bw, d2), "deposit minted after a relayer came back", rs)
        assert l2_balance(bw, ALICE) == before + d1.amount + d2.amount
    assert rs.alive() == [False, False, False]

    relayed: dict[str, BridgeMessageRelayed] = {}
    for i in range(3):
        with SqliteJournal(tmp_path / f"relayer-{i}.sqlite") as j:
            for r in j.read_all():
                if isinstance(r.event, BridgeMessageRelayed):
                    assert r.event.message_id not in relayed  # each message submitted once
                    relayed[r.event.message_id] = r.event
    assert set(relayed) == {d1.id_hex, d2.id_hex}
    # each submission carries signatures of two different relayers, each from its own process
    assert set(relayed[d1.id_hex].signers) == {procs[order[1]].address, procs[order[2]].address}
    assert set(relayed[d2.id_hex].signers) == {procs[order[0]].address, procs[order[2]].address}
