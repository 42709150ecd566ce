"""The transaction engine on a real anvil: explicit mining, replacement, cancel, drops,
base-fee spikes, reorgs and rollbacks, foreign sends, and bad input."""

from __future__ import annotations

import asyncio

import pytest

from agent.chain.devnet import L1_CHAIN_ID as CHAIN_ID
from agent.chain.fees import GWEI, FeeCapExceededError, FeeConfig, Fees
from agent.chain.nonce import NonceTooFarAheadError
from agent.chain.txengine import TxRefused, TxSpec
from agent.oms.events import (
    TxDropped,
    TxMined,
    TxReorged,
    TxReplaced,
    TxSent,
    TxSigned,
)
from agent.oms.tx import TxState

pytestmark = pytest.mark.integration
TO = "0x" + "77" * 20
MINED = {TxState.MINED, TxState.CONFIRMED}


def types_of(journal, stream):
    return [type(r.event).__name__ for r in journal.read_stream(stream)]


async def mine(rpc, n=1):
    for _ in range(n):
        await rpc.call("evm_mine")


async def test_send_mine_confirm_at_depth(rpc, make_engine, journal):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(confirmations=3)
    res = await eng.send_many([TxSpec(TO, value=i + 1, client_order_id=f"c{i}") for i in range(3)])
    assert [r.record.nonce for r in res] == [0, 1, 2]
    assert all(r.record.state is TxState.SENT and r.error is None for r in res)
    await eng.poll()
    assert all(eng.records[r.tx_hash].state is TxState.SENT for r in res)  # nothing mined yet
    await mine(rpc)
    await eng.poll()
    assert all(eng.records[r.tx_hash].state is TxState.MINED for r in res)
    await mine(rpc)
    await eng.poll()
    assert all(eng.records[r.tx_hash].state is TxState.MINED for r in res)  # depth 2 < 3
    await mine(rpc)
    await eng.poll()
    assert all(eng.records[r.tx_hash].state is TxState.CONFIRMED for r in res)
    await eng.flush()
    t = types_of(journal, eng.stream)
    # write-ahead: every TxSigned precedes the TxSent of the same batch
    assert t[:4] == ["TxSigned", "TxSigned", "TxSigned", "TxSent"]
    assert t.count("TxMined") == 3 and t.count("TxConfirmed") == 3


async def test_speed_up_raises_both_fees_and_the_replacement_wins(rpc, make_engine, journal):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(auto_replace=False)
    first = await eng.send(TxSpec(TO, value=5, client_order_id="s"), fees=Fees(2 * GWEI, GWEI))
    res = await eng.speed_up(first.record.nonce, fees=Fees(GWEI, 1))
    new = res.record
    assert new.max_fee_per_gas * 1000 >= 2 * GWEI * 1125
    assert new.max_priority_fee_per_gas * 1000 >= GWEI * 1125
    assert eng.records[first.tx_hash].state is TxState.REPLACED
    await mine(rpc)
    rec = await eng.wait_for(new.tx_hash, MINED, timeout=10)
    assert rec.tx_hash == new.tx_hash
    tx = await rpc.get_transaction(new.tx_hash)
    assert int(tx["value"], 16) == 5 and tx["to"].lower() == TO
    assert await rpc.get_transaction_count(eng.sender) == 1
    assert [
        r.event.tx_hash for r in journal.read_stream(eng.stream) if isinstance(r.event, TxSigned)
    ] == [
        first.tx_hash,
        new.tx_hash,
    ]


async def test_cancel_is_a_zero_value_self_send(rpc, make_engine):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(auto_replace=False)
    first = await eng.send(TxSpec(TO, value=10**18, client_order_id="c"))
    res = await eng.cancel(first.record.nonce)
    await mine(rpc)
    await eng.wait_for(res.tx_hash, MINED, timeout=10)
    tx = await rpc.get_transaction(res.tx_hash)
    assert tx["to"].lower() == eng.sender.lower() and int(tx["value"], 16) == 0
    assert await rpc.get_transaction(first.tx_hash) is None
    assert await rpc.get_balance(TO) == 0
    assert eng.records[first.tx_hash].state in (TxState.REPLACED, TxState.DROPPED)


async def test_dropped_transaction_is_rebroadcast_with_the_same_hash(rpc, make_engine, journal):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine()
    res = await eng.send(TxSpec(TO, value=3))
    await rpc.call("anvil_dropTransaction", [res.tx_hash])
    assert await rpc.get_transaction(res.tx_hash) is None
    evs = await eng.poll()
    assert [type(e) for e in evs] == [TxSent] and evs[0].tx_hash == res.tx_hash
    assert await rpc.get_transaction(res.tx_hash) is not None
    await mine(rpc)
    await eng.wait_for(res.tx_hash, MINED, timeout=10)
    await eng.flush()
    assert types_of(journal, eng.stream).count("TxSigned") == 1  # never signed twice


async def test_base_fee_spike_triggers_a_replacement(rpc, make_engine):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(stuck_blocks=100)
    res = await eng.send(TxSpec(TO, value=7), fees=Fees(3 * GWEI, GWEI))
    await rpc.call("anvil_setNextBlockBaseFeePerGas", [hex(50 * GWEI)])
    await mine(rpc)  # a 50 gwei block: our 3 gwei cap is priced out
    assert await rpc.get_transaction_receipt(res.tx_hash) is None
    eng._fees = None  # the cached estimate predates the spike
    evs = await eng.poll()
    signed = [h for h in eng.by_nonce[res.record.nonce] if h != res.tx_hash]
    assert len(signed) == 1, evs
    new = eng.records[signed[0]]
    assert new.max_fee_per_gas > 50 * GWEI * 7 // 8  # covers the next base fee
    await mine(rpc)
    rec = await eng.wait_for(res.tx_hash, MINED, timeout=10)
    assert rec.tx_hash == new.tx_hash


async def test_a_tx_held_without_new_blocks_is_replaced_after_stuck_seconds(rpc, make_engine):
    # no block arrives (automine off: as a node that parks a tx and mines nothing more):
    # the block count never reaches stuck_blocks, the clock does
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(stuck_blocks=100, stuck_seconds=0.2)
    res = await eng.send(TxSpec(TO, value=9), fees=Fees(2 * GWEI, GWEI))
    await eng.poll()  # first sighting in the pool: not stuck yet
    assert eng.live_hashes(res.record.nonce) == [res.tx_hash]
    deadline = asyncio.get_running_loop().time() + 10
    while len(eng.by_nonce[res.record.nonce]) == 1:
        assert asyncio.get_running_loop().time() < deadline, "never replaced"
        await asyncio.sleep(0.05)
        await eng.poll()
    new = [h for h in eng.by_nonce[res.record.nonce] if h != res.tx_hash]
    assert len(new) == 1 and eng.records[res.tx_hash].state is TxState.REPLACED
    assert eng.records[new[0]].max_fee_per_gas * 1000 >= 2 * GWEI * 1125
    await mine(rpc)
    rec = await eng.wait_for(res.tx_hash, MINED, timeout=10)
    assert rec.tx_hash == new[0]


async def test_a_replaced_original_that_gets_mined_settles_its_nonce(rpc, make_engine):
    # the speed-up loses the race: the chain mines the original it superseded
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(auto_replace=False)
    first = await eng.send(TxSpec(TO, value=4), fees=Fees(2 * GWEI, GWEI))
    res = await eng.speed_up(first.record.nonce, fees=Fees(GWEI, 1))
    assert eng.records[first.tx_hash].state is TxState.REPLACED
    await rpc.call("anvil_dropTransaction", [res.tx_hash])
    await rpc.send_raw_transaction(eng.records[first.tx_hash].raw_tx)
    await mine(rpc)
    evs = await eng.poll()
    assert eng.records[first.tx_hash].state in MINED
    assert eng.records[res.tx_hash].state is TxState.DROPPED
    dropped = [e for e in evs if isinstance(e, TxDropped)]
    assert [e.tx_hash for e in dropped] == [res.tx_hash] and first.tx_hash in dropped[0].reason


async def test_fee_cap_refuses_a_replacement_and_journals_why(rpc, make_engine, journal):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(
        fees=FeeConfig(max_fee_cap=4 * GWEI, max_priority_fee_cap=2 * GWEI), auto_replace=False
    )
    with pytest.raises(FeeCapExceededError):  # explicit fees above the cap: refused
        await eng.send(TxSpec(TO, value=1), fees=Fees(5 * GWEI, GWEI))
    res = await eng.send(TxSpec(TO, value=1), fees=Fees(4 * GWEI, GWEI))
    assert res.record.nonce == 0
    with pytest.raises(FeeCapExceededError):
        await eng.speed_up(res.record.nonce)
    refused = [r.event for r in journal.read_stream(eng.stream) if isinstance(r.event, TxRefused)]
    assert refused and refused[-1].code == "FEE_CAP_EXCEEDED"
    assert eng.live_hashes(res.record.nonce) == [res.tx_hash]


@pytest.mark.parametrize("how", ["reorg", "rollback"])
async def test_reorg_unconfirms_and_tracks_again(rpc, make_engine, journal, how):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(confirmations=1)
    res = await eng.send(TxSpec(TO, value=9, client_order_id="r"))
    await mine(rpc)
    await eng.poll()
    first = eng.records[res.tx_hash]
    assert first.state is TxState.CONFIRMED
    if how == "reorg":
        await rpc.call("anvil_reorg", [1, []])  # the block is replaced by an empty one
    else:
        await rpc.call("anvil_rollback", [1])
    assert await rpc.get_transaction_receipt(res.tx_hash) is None
    evs = await eng.poll()
    kinds = [type(e) for e in evs]
    assert TxReorged in kinds and TxSent in kinds  # un-confirmed, then re-broadcast
    assert eng.records[res.tx_hash].state is TxState.SENT
    await mine(rpc)
    rec = await eng.wait_for(res.tx_hash, {TxState.CONFIRMED}, timeout=10)
    assert rec.block_hash != first.block_hash
    await eng.flush()
    t = types_of(journal, eng.stream)
    assert t.index("TxReorged") > t.index("TxMined")  # confirmations=1: mined = confirmed
    assert t.count("TxMined") == 2 and t.count("TxSigned") == 1


async def test_account_used_elsewhere_resyncs_and_drops(rpc, make_engine, signer):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(auto_replace=False)
    ours = await eng.send(TxSpec(TO, value=1, client_order_id="mine"), fees=Fees(2 * GWEI, GWEI))
    # another wallet with the same key takes nonce 0 with a higher fee, then nonces 1 and 2
    from agent.signing import TxRequest

    for n, fee in ((0, 10 * GWEI), (1, 10 * GWEI), (2, 10 * GWEI)):
        st = signer.sign_transaction_sync(
            TxRequest(CHAIN_ID, n, "0x" + "99" * 20, 1, b"", 21000, fee, GWEI)
        )
        await rpc.send_raw_transaction(st.raw)
    await mine(rpc)
    evs = await eng.poll()
    assert any(isinstance(e, TxDropped) and e.tx_hash == ours.tx_hash for e in evs)
    assert eng.records[ours.tx_hash].state is TxState.DROPPED
    nxt = await eng.send(TxSpec(TO, value=2))
    assert nxt.record.nonce == 3 and nxt.error is None


async def test_stale_nonce_after_foreign_send_is_retried(rpc, make_engine, signer):
    eng = await make_engine()  # automine on
    from agent.signing import TxRequest

    st = signer.sign_transaction_sync(
        TxRequest(CHAIN_ID, 0, "0x" + "99" * 20, 1, b"", 21000, 10 * GWEI, GWEI)
    )
    await rpc.send_raw_transaction(st.raw)  # the engine does not know
    res = await eng.send(TxSpec(TO, value=4))
    assert res.error is None and res.record.nonce == 1
    await eng.wait_for(res.tx_hash, MINED, timeout=10)


async def test_nonce_far_ahead_is_refused_and_nothing_is_sent(rpc, make_engine, journal):
    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine(max_nonce_gap=4)
    eng.nonces.seed(10)  # e.g. a journal from another chain instance claims nonce 9 was used
    with pytest.raises(NonceTooFarAheadError):
        await eng.send(TxSpec(TO, value=1, client_order_id="far"))
    refused = [r.event for r in journal.read_stream(eng.stream) if isinstance(r.event, TxRefused)]
    assert refused[-1].code == "NONCE_TOO_FAR_AHEAD" and refused[-1].client_order_id == "far"
    assert await rpc.get_transaction_count(eng.sender, "pending") == 0
    assert not any(isinstance(r.event, TxSigned) for r in journal.read_stream(eng.stream))


async def test_chain_id_mismatch_is_refused(anvil, signer, journal):
    from agent.chain.rpc import RpcClient
    from agent.chain.txengine import EngineConfig, TxEngine
    from agent.errors import ChainIdMismatchError

    async with RpcClient(anvil.rpc_url) as rpc:
        eng = TxEngine(rpc, signer, journal, EngineConfig(chain_id=1))
        with pytest.raises(ChainIdMismatchError, match="31337001"):
            await eng.start()
        refused = [r.event for r in journal.read_stream(eng.stream)]
        assert [type(e) for e in refused] == [TxRefused] and refused[0].code == "CHAIN_ID_MISMATCH"
        assert await rpc.get_transaction_count(signer.address, "pending") == 0


async def test_restart_replays_and_reconciles(rpc, signer, journal, make_engine):
    from agent.chain.txengine import EngineConfig, TxEngine

    await rpc.call("evm_setAutomine", [False])
    eng = await make_engine()
    res = await eng.send_many([TxSpec(TO, value=i + 1) for i in range(3)])
    await mine(rpc)
    await eng.flush()  # the first engine's background appends land before the "restart"
    eng2 = TxEngine(rpc, signer, journal, EngineConfig(chain_id=CHAIN_ID))
    await eng2.start()  # replays 3 SENT, then sees them mined
    assert all(eng2.records[r.tx_hash].state in MINED for r in res)
    assert (await eng2.send(TxSpec(TO, value=9))).record.nonce == 3
    evs = [r.event for r in journal.read_stream(eng.stream)]
    assert sum(isinstance(e, TxMined) for e in evs) == 3
    # the restart re-signed nothing and replaced nothing: one TxSigned per nonce
    assert not any(isinstance(e, TxReplaced) for e in evs)
    assert sorted(e.nonce for e in evs if isinstance(e, TxSigned)) == [0, 1, 2, 3]
