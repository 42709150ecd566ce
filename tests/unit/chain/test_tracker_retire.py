"""tracker.retire: what leaves the tracker's open set, and what must stay."""

from __future__ import annotations

from types import SimpleNamespace

from agent.chain.txengine.config import EngineConfig
from agent.chain.txengine.tracker import ORPHAN_ASKS, retire
from agent.oms.tx import TxRecord, TxState


def rec(h: str, nonce: int, state: TxState, block: int | None = None) -> TxRecord:
    return TxRecord(1, "0xs", nonce, h, b"", 1, 1, None, None, state, block, None, None)


def engine(records: list[TxRecord], head: int, asks: dict[str, int] | None = None):
    return SimpleNamespace(
        config=EngineConfig(chain_id=1, confirmations=1, reorg_window=10),
        records={r.tx_hash: r for r in records},
        open={r.tx_hash: None for r in records},
        head=head,
        _orphan_asks=asks or {},
    )


def test_deep_confirmed_and_its_superseded_siblings_retire_the_rest_stay() -> None:
    eng = engine(
        [
            rec("final", 1, TxState.CONFIRMED, block=5),  # 15 - 5 >= 10: final
            rec("repl", 1, TxState.REPLACED),  # sibling of a final nonce
            rec("recent", 2, TxState.CONFIRMED, block=9),  # 6 deep: a reorg may still move it
            rec("mined", 3, TxState.MINED, block=14),
            rec("sent", 4, TxState.SENT),
            rec("signed", 5, TxState.SIGNED),
            rec("dropped", 6, TxState.DROPPED),  # its nonce not final, asks left: may be mined
            rec("asked-out", 7, TxState.DROPPED),
        ],
        head=15,
        asks={"asked-out": ORPHAN_ASKS},
    )
    retire(eng)
    assert list(eng.open) == ["recent", "mined", "sent", "signed", "dropped"]


def test_nothing_retires_while_the_head_is_within_the_window() -> None:
    eng = engine([rec("a", 1, TxState.CONFIRMED, block=5), rec("b", 1, TxState.REPLACED)], 14)
    retire(eng)
    assert list(eng.open) == ["a", "b"]
