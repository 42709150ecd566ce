"""Recovery and reconciliation with in-memory fakes of the chain/venue report protocols (the
logic under test is pure; the journal is a real SQLite file)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.journal import SqliteJournal
from agent.model import Fill, Side, Spot
from agent.oms import OrderManager, OrderState, OrderStore, SubmitOrder, TxState
from agent.oms.events import (
    OrderFilled,
    OrderSubmitted,
    TxMined,
    TxReplaced,
    TxSent,
    TxSigned,
)
from agent.oms.reconcile import ChainFacts, Receipt, diff_chain
from agent.oms.recovery import recover
from agent.venues.base import (
    FillReport,
    OrderStatusReport,
    VenueOrderRef,
    VenueOrderState,
)

ME = "0xaaaa"


class FakeChain:
    def __init__(self, chain_id: int = 1) -> None:
        self.chain_id = chain_id
        self.nonces: dict[str, int] = {}
        self.receipts: dict[str, Receipt] = {}
        self.mempool: set[str] = set()

    async def nonce(self, sender: str) -> int:
        return self.nonces.get(sender, 0)

    async def receipt(self, tx_hash: str) -> Receipt | None:
        return self.receipts.get(tx_hash)

    async def is_pending(self, tx_hash: str) -> bool:
        return tx_hash in self.mempool


def signed(h: str, nonce: int = 0, cid: str | None = "o1", replaces: str | None = None) -> TxSigned:
    return TxSigned(1, ME, nonce, h, bytes.fromhex("02" + h[2:]), 100, 2, cid, replaces)


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    return tmp_path / "r.sqlite"


def crashed_after_signing(jpath: Path) -> None:
    """The agent accepted o1, journaled the signed tx (write-ahead) and died."""
    with SqliteJournal(jpath) as j:
        m = OrderManager(j)
        m.submit(SubmitOrder("o1", "WETH/USDC", Side.BUY, Decimal(2), venue="uni"))
        m.record([signed("0x01")])


async def test_signed_but_unseen_tx_leaves_order_unknown_and_is_rebroadcast(jpath: Path) -> None:
    crashed_after_signing(jpath)
    chain = FakeChain()
    with SqliteJournal(jpath) as j:
        m, rep = await recover(j, [chain])
        o = m.store.get("o1")
        assert o.state is OrderState.UNKNOWN  # never failed on a guess
        d = rep.chains[1]
        assert [r.tx_hash for r in d.rebroadcast] == ["0x01"] and d.rebroadcast[
            0
        ].raw_tx == b"\x02\x01"
        assert d.next_nonce == {ME: 1}
        # the node now has it: the order resumes
        chain.mempool.add("0x01")
        m2, rep2 = await recover(j, [chain])
        assert m2.store.get("o1").state is OrderState.SUBMITTED
        assert m2.store.txs["0x01"].state is TxState.SENT and rep2.chains[1].rebroadcast == []


async def test_mined_receipt_fills_through_the_decoder_and_recovery_is_idempotent(
    jpath: Path,
) -> None:
    crashed_after_signing(jpath)
    chain = FakeChain()
    chain.nonces[ME] = 1
    chain.receipts["0x01"] = Receipt("0x01", 7, "0xb7", True, 50_000, 3)

    def decode(order, tx, rc):
        return [
            OrderFilled(order.client_order_id, f"{tx.tx_hash}:0", order.quantity, Decimal("3000"))
        ]

    with SqliteJournal(jpath) as j:
        m, rep = await recover(j, [chain], fill_from_receipt=decode)
        o = m.store.get("o1")
        assert o.state is OrderState.FILLED and o.avg_price == 3000
        assert m.store.txs["0x01"].state is TxState.MINED and rep.events == 3
        head = j.head()
        m2, rep2 = await recover(j, [chain], fill_from_receipt=decode)
        assert rep2.events == 0 and j.head() == head
        assert rep2.state_hash_after_replay == m.store.state_hash() == m2.store.state_hash()


async def test_reverted_tx_rejects_the_order(jpath: Path) -> None:
    crashed_after_signing(jpath)
    chain = FakeChain()
    chain.nonces[ME] = 1
    chain.receipts["0x01"] = Receipt("0x01", 7, "0xb7", False)
    with SqliteJournal(jpath) as j:
        m, _ = await recover(j, [chain])
        o = m.store.get("o1")
        assert (o.state, o.code) == (OrderState.REJECTED, "TX_REVERTED")


async def test_nonce_used_elsewhere_drops_tx_but_order_stays_unknown(jpath: Path) -> None:
    crashed_after_signing(jpath)
    chain = FakeChain()
    chain.nonces[ME] = 1  # consumed, but not by any hash we know
    with SqliteJournal(jpath) as j:
        m, rep = await recover(j, [chain])
        assert m.store.txs["0x01"].state is TxState.DROPPED
        assert "not in this journal" in m.store.txs["0x01"].reason
        assert m.store.get("o1").state is OrderState.UNKNOWN
        assert rep.chains[1].next_nonce == {ME: 1}


async def test_replacement_mined_drops_the_original(jpath: Path) -> None:
    crashed_after_signing(jpath)
    with SqliteJournal(jpath) as j:
        m = OrderManager.open(j)
        m.record([OrderSubmitted("o1", "uni", "0x01"), TxSent(1, ME, 0, "0x01")])
        m.record([signed("0x02", replaces="0x01"), TxReplaced(1, ME, 0, "0x01", "0x02")])
    chain = FakeChain()
    chain.nonces[ME] = 1
    chain.receipts["0x02"] = Receipt("0x02", 9, "0xb9", True)
    with SqliteJournal(jpath) as j:
        m, _ = await recover(j, [chain])
        assert m.store.txs["0x02"].state is TxState.MINED
        assert m.store.txs["0x01"].state is TxState.REPLACED  # already superseded: left alone
        assert m.store.get("o1").state is OrderState.SUBMITTED  # fill comes from the decoder


def test_reorg_puts_mined_tx_back_and_remines_in_new_block() -> None:
    store = OrderStore()
    store.apply_all([signed("0x01", cid=None), TxMined(1, ME, 0, "0x01", 5, "0xold", True)])
    gone = diff_chain(store, ChainFacts(1, {ME: 0}, {"0x01": None}))
    assert [type(e).__name__ for e in gone.events] == ["TxReorged"]
    moved = diff_chain(store, ChainFacts(1, {ME: 1}, {"0x01": Receipt("0x01", 6, "0xnew", True)}))
    assert [type(e).__name__ for e in moved.events] == ["TxReorged", "TxMined"]
    store.apply_all(moved.events)
    assert store.txs["0x01"].block_hash == "0xnew"


# --- venues -------------------------------------------------------------------------------------
class FakeVenue:
    def __init__(self) -> None:
        self.open: list[OrderStatusReport] = []
        self.status: dict[str, OrderStatusReport] = {}
        self.fills: list[Fill] = []

    async def open_orders(self):
        return self.open

    async def order_status(self, ref: VenueOrderRef):
        return self.status.get(ref.client_order_id)

    async def fills_since(self, cursor: str | None) -> FillReport:
        start = int(cursor or 0)
        return FillReport(tuple(self.fills[start:]), str(len(self.fills)))


def report(cid: str, state: VenueOrderState, filled: str = "0") -> OrderStatusReport:
    return OrderStatusReport(
        VenueOrderRef("cex", cid, f"v-{cid}"),
        Spot("WETH", "USDC"),
        Side.BUY,
        Decimal(2),
        Decimal(filled),
        state,
    )


def weth_fill(cid: str, tid: str, qty_wei: int) -> Fill:
    return Fill(
        "cex", cid, tid, "USDC", "WETH", 3000 * qty_wei // 10**12, qty_wei, price=Decimal(3000)
    )


def submitted_orders(j: SqliteJournal, *cids: str) -> None:
    m = OrderManager(j)
    for cid in cids:
        m.submit(SubmitOrder(cid, "WETH/USDC", Side.BUY, Decimal(2), venue="cex"))
        m.record([OrderSubmitted(cid, "cex", f"v-{cid}")])


async def test_venue_fills_forgotten_and_cancelled_orders(jpath: Path) -> None:
    v = FakeVenue()
    v.open = [report("a", VenueOrderState.PARTIALLY_FILLED, "0.5")]
    v.status = {"c": report("c", VenueOrderState.CANCELLED)}
    v.fills = [weth_fill("v-a", "t1", 5 * 10**17), weth_fill("zz", "t9", 1)]
    with SqliteJournal(jpath) as j:
        submitted_orders(j, "a", "b", "c")
        m, rep = await recover(j, venues={"cex": v}, decimals={"WETH": 18})
        a, b, c = (m.store.get(x) for x in "abc")
        assert (a.state, a.filled) == (OrderState.PARTIALLY_FILLED, Decimal("0.5"))
        assert b.state is OrderState.UNKNOWN  # the venue forgot it: unknown, not failed
        assert c.state is OrderState.CANCELLED
        assert any("unknown to this journal" in p for p in rep.venues["cex"].problems)
        assert m.store.venue_cursors["cex"] == "2"
        # next time only new fills are read; the completing fill closes the order
        v.fills.append(weth_fill("a", "t2", 15 * 10**17))
        v.open = []
        v.status["a"] = report("a", VenueOrderState.FILLED, "2")
        m2, _ = await recover(j, venues={"cex": v}, decimals={"WETH": 18})
        assert m2.store.get("a").state is OrderState.FILLED and m2.store.get("a").filled == 2


async def test_venue_overfill_is_reported_not_applied(jpath: Path) -> None:
    v = FakeVenue()
    v.open = [report("a", VenueOrderState.OPEN)]
    v.fills = [weth_fill("a", "t1", 3 * 10**18)]
    with SqliteJournal(jpath) as j:
        submitted_orders(j, "a")
        m, rep = await recover(j, venues={"cex": v}, decimals={"WETH": 18})
        assert m.store.get("a").filled == 0
        assert any("overfill" in p for p in rep.venues["cex"].problems)
