from __future__ import annotations

from typing import Any

import pytest

from agent.errors import RpcResponseError
from agent.oms.chain_facts import RpcChainFacts
from agent.oms.reconcile import Receipt


class Node:
    """Canned JSON-RPC answers (the parsing is what is under test)."""

    def __init__(self, receipt: Any = None, tx: Any = None) -> None:
        self._receipt, self._tx = receipt, tx

    async def get_transaction_count(self, address: str, block: str = "latest") -> int:
        return 7

    async def get_transaction_receipt(self, tx_hash: str) -> Any:
        return self._receipt

    async def get_transaction(self, tx_hash: str) -> Any:
        return self._tx


async def test_receipt_and_pending_are_parsed() -> None:
    rc = {"blockNumber": "0x10", "blockHash": "0xbb", "status": "0x0", "gasUsed": "0x5208"}
    f = RpcChainFacts(Node(rc, {"blockNumber": None}), 1)
    assert await f.receipt("0xaa") == Receipt("0xaa", 16, "0xbb", False, 21000, 0)
    assert await f.is_pending("0xaa") and await f.nonce("0x1") == 7
    assert not await RpcChainFacts(Node(None, None), 1).is_pending("0xaa")
    assert await RpcChainFacts(Node(None, None), 1).receipt("0xaa") is None


@pytest.mark.parametrize("bad", ["garbage", {"blockHash": "0xbb", "blockNumber": "12"}, {"x": 1}])
async def test_garbage_receipt_is_a_typed_error(bad: Any) -> None:
    with pytest.raises(RpcResponseError):
        await RpcChainFacts(Node(bad), 1).receipt("0xaa")


def test_it_is_a_chain_facts_source() -> None:
    from agent.oms.recovery import ChainFactsSource

    assert isinstance(RpcChainFacts(Node(), 1), ChainFactsSource)
