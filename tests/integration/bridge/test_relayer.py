"""The relayer against the real contracts on the two devnets: confirmation depth, replay,
too few or forged signatures (refused before sending, journaled), withdrawals through the
challenge period, and the relayer as a separate process."""

from __future__ import annotations

import time

import pytest

from agent.bridge.errors import (
    BridgeChallengePeriodError,
    BridgeQuorumError,
    BridgeReplayError,
    BridgeSignatureError,
)
from agent.bridge.events import BridgeMessageRejected, BridgeMessageRelayed, Direction
from agent.bridge.messages import Withdrawal
from agent.bridge.process import RelayerProcess
from agent.bridge.relayer import Relayer
from agent.deploy.devworld import RELAYER_KEYS, address_of
from agent.journal import SqliteJournal
from agent.oms.events import TxMined, TxSigned, tx_stream
from agent.signing import LocalSigner

from .helpers import ALICE, ALICE_KEY, eoa_deposit, fund_eth, l1_usdc, l2_balance, mine

pytestmark = pytest.mark.integration


@pytest.fixture
def journal(tmp_path):
    j = SqliteJournal(tmp_path / "bridge.sqlite")
    yield j
    j.close()


def _events(journal, cls):
    return [r.event for r in journal.read_all() if isinstance(r.event, cls)]


async def _relayer(bw, journal, **kw) -> Relayer:
    cfg = bw.relayer_config(
        l1_from_block=bw.tx("l1").rpc("eth_blockNumber")
        and int(bw.tx("l1").rpc("eth_blockNumber"), 16),
        l2_from_block=int(bw.tx("l2").rpc("eth_blockNumber"), 16),
        **kw,
    )
    return await Relayer(cfg, journal).connect()


async def test_deposit_waits_for_confirmation_depth(bridge_world, journal):
    bw = bridge_world
    async with await _relayer(bw, journal, confirmations=3) as r:
        before = l2_balance(bw, ALICE)
        d = eoa_deposit(bw, 5_000_000)
        await r.step()
        assert l2_balance(bw, ALICE) == before  # 1 confirmation of 3
        mine(bw, "l1")
        await r.step()
        assert l2_balance(bw, ALICE) == before  # 2 of 3
        mine(bw, "l1")
        await r.step()
        assert l2_balance(bw, ALICE) == before + d.amount
        relayed = _events(journal, BridgeMessageRelayed)
        assert [e.message_id for e in relayed] == [d.id_hex]
        assert sorted(relayed[0].signers) == sorted(address_of(k) for k in RELAYER_KEYS[:2])
        # escrow backing covers the L2 supply (the contracts' invariant, on the real chains)
        locked = bw.tx("l1").call("BridgeEscrow", bw.l1.address("BridgeEscrow"), "locked", d.token)
        supply = bw.tx("l2").call("BridgedToken", bw.l2.address("BridgedUSDC"), "totalSupply")
        assert supply <= locked
        # the mint went through the submitter's own TxEngine: journaled write-ahead in its
        # stream, the same bytes the chain mined
        stream = tx_stream(bw.l2.chain_id, r.submitter.address)
        txs = [e.event for e in journal.read_stream(stream)]
        signed = [e for e in txs if isinstance(e, TxSigned)]
        assert [e.tx_hash for e in signed] == [relayed[0].dest_tx]
        assert any(isinstance(e, TxMined) for e in txs)


async def test_replay_is_refused_before_sending_and_journaled(bridge_world, journal):
    bw = bridge_world
    async with await _relayer(bw, journal) as r:
        d = eoa_deposit(bw, 3_000_000)
        await r.step()
        minted = l2_balance(bw, ALICE)
        submitter = r.submitter.address
        nonce = int(bw.tx("l2").rpc("eth_getTransactionCount", submitter, "latest"), 16)
        with pytest.raises(BridgeReplayError) as e:
            await r.relay_deposit(d, "0xreplay")
        assert e.value.code == "BRIDGE_REPLAYED" and d.id_hex in str(e.value)
        assert l2_balance(bw, ALICE) == minted
        assert int(bw.tx("l2").rpc("eth_getTransactionCount", submitter, "latest"), 16) == nonce
        rej = _events(journal, BridgeMessageRejected)
        assert [(x.message_id, x.code, x.source_tx) for x in rej] == [
            (d.id_hex, "BRIDGE_REPLAYED", "0xreplay")
        ]


async def test_too_few_and_forged_signatures_are_refused(bridge_world, journal):
    bw = bridge_world
    cfg_keys = dict(relayer_keys=(RELAYER_KEYS[0],))  # 1 key and no peers; the contracts need 2
    async with await _relayer(bw, journal, **cfg_keys) as r:
        before = l2_balance(bw, ALICE)
        d = eoa_deposit(bw, 2_000_000)
        submitter = r.submitter.address
        sent = int(bw.tx("l2").rpc("eth_getTransactionCount", submitter, "latest"), 16)
        await r.step()
        await r.step()  # waits for a quorum it cannot reach alone: nothing is submitted
        assert l2_balance(bw, ALICE) == before
        assert r.stats.deposits_relayed == 0
        [p] = r.status()["pending"]
        assert (p["id"], p["signatures"], p["rounds"]) == (d.id_hex, 1, 2)
        assert int(bw.tx("l2").rpc("eth_getTransactionCount", submitter, "latest"), 16) == sent
        # forced through with one signature: refused before sending, journaled
        with pytest.raises(BridgeQuorumError):
            await r.relay_deposit(d)
        forged = [LocalSigner(RELAYER_KEYS[0]), LocalSigner(ALICE_KEY)]
        with pytest.raises(BridgeSignatureError) as e:
            await r.relay_deposit(d, signers=forged)
        assert ALICE.lower() in str(e.value).lower()
        assert l2_balance(bw, ALICE) == before
        assert int(bw.tx("l2").rpc("eth_getTransactionCount", submitter, "latest"), 16) == sent
        rej = _events(journal, BridgeMessageRejected)
        assert [(x.message_id, x.code) for x in rej] == [
            (d.id_hex, "BRIDGE_TOO_FEW_SIGNATURES"),
            (d.id_hex, "BRIDGE_BAD_SIGNATURE"),
        ]


async def test_withdrawal_released_only_after_challenge_period(bridge_world, journal):
    bw = bridge_world
    async with await _relayer(bw, journal) as r:
        d = eoa_deposit(bw, 10_000_000)
        await r.step()
        assert l2_balance(bw, ALICE) >= d.amount
        # Alice burns 4 USDC.b on L2 for herself on L1
        fund_eth(bw, "l2", ALICE)
        alice_l2 = bw.tx("l2", ALICE_KEY)
        bridge = bw.l2.address("BridgeL2")
        nonce = alice_l2.call("BridgeL2", bridge, "withdrawalNonce")
        alice_l2.transact(
            "BridgeL2", bridge, "withdraw", bw.l2.address("BridgedUSDC"), ALICE, 4_000_000
        )
        fee = alice_l2.call("BridgeL2", bridge, "feeFor", 4_000_000)
        w = Withdrawal(bw.l2.chain_id, bridge, d.token, ALICE, ALICE, 4_000_000 - fee, nonce)
        l1_before = l1_usdc(bw, ALICE)
        await r.step()  # proves it on L1; the challenge period starts
        assert r.stats.withdrawals_proven == 1
        await r.step()  # not matured: nothing released
        assert l1_usdc(bw, ALICE) == l1_before
        # anyone finalizing early is refused with the typed error, nothing sent
        data = r._escrow.encode("finalizeWithdrawal", w.struct_hash)
        with pytest.raises(BridgeChallengePeriodError):
            await r.l1.send(r.submitter, r.config.escrow, data, r._escrow, context="early")
        period = bw.tx("l1").call("BridgeEscrow", r.config.escrow, "challengePeriod")
        bw.tx("l1").rpc("evm_increaseTime", hex(period))
        mine(bw, "l1")
        await r.step()
        assert r.stats.withdrawals_finalized == 1
        assert l1_usdc(bw, ALICE) == l1_before + w.amount
        # and a replayed proof of the same withdrawal is refused
        with pytest.raises(BridgeReplayError):
            await r.prove_withdrawal(w)


def test_relayer_as_a_process(bridge_world, tmp_path):
    bw = bridge_world
    cfg = bw.relayer_config(
        l1_from_block=int(bw.tx("l1").rpc("eth_blockNumber"), 16),
        l2_from_block=int(bw.tx("l2").rpc("eth_blockNumber"), 16),
        journal_path=str(tmp_path / "relayer.sqlite"),
    )
    proc = RelayerProcess(cfg, log_path=tmp_path / "relayer.log")
    assert RELAYER_KEYS[0][2:] not in " ".join(proc.args())  # keys never on the command line
    with proc:
        before = l2_balance(bw, ALICE)
        d = eoa_deposit(bw, 1_000_000)
        deadline = time.monotonic() + 30
        while l2_balance(bw, ALICE) < before + d.amount:
            assert proc.alive(), (tmp_path / "relayer.log").read_text()
            assert time.monotonic() < deadline, "not relayed within 30 s"
            time.sleep(0.02)  # polling the chain for the mint, with a deadline
    assert not proc.alive()
    with SqliteJournal(tmp_path / "relayer.sqlite") as j:
        ids = [e.message_id for e in _events(j, BridgeMessageRelayed)]
        assert ids == [d.id_hex]
        assert _events(j, BridgeMessageRelayed)[0].direction is Direction.DEPOSIT


def test_with_bridge_is_idempotent(bridge_world):
    from agent.bridge.deploy import with_bridge
    from agent.deploy.devworld import DEPLOYER_KEY

    bw = bridge_world
    l1, l2 = with_bridge(bw.tx("l1"), bw.tx("l2"), bw.l1, bw.l2, [ALICE], 1)
    assert (l1, l2) == (bw.l1, bw.l2)  # already deployed: nothing sent, same names
    assert (
        bw.tx("l1", DEPLOYER_KEY).call("BridgeEscrow", l1.address("BridgeEscrow"), "threshold") == 2
    )
