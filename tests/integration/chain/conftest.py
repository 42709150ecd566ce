"""Fixtures for the transaction engine's fault tests: a FRESH anvil per test (the tests turn
automine off, spike the base fee, reorg and roll back, which must not leak into the shared
world devnets), a SQLite journal on disk, and an engine factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from agent.chain import devnet
from agent.chain.rpc import RpcClient
from agent.chain.txengine import EngineConfig, TxEngine
from agent.journal import SqliteJournal
from agent.signing import LocalSigner

CHAIN_ID = devnet.L1_CHAIN_ID
KEY = devnet.DEV_KEYS[4]  # the agent operator's dev key


@pytest.fixture
def anvil(tmp_path) -> Iterator[devnet.Devnet]:
    d = devnet.start(devnet.DevnetSpec("txengine", CHAIN_ID), log_dir=tmp_path / "logs")
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def journal(tmp_path) -> Iterator[SqliteJournal]:
    j = SqliteJournal(tmp_path / "journal.db")
    yield j
    j.close()


@pytest.fixture
async def rpc(anvil) -> AsyncIterator[RpcClient]:
    async with RpcClient(anvil.rpc_url, expected_chain_id=CHAIN_ID) as c:
        yield c


@pytest.fixture
def signer() -> LocalSigner:
    return LocalSigner(KEY)


@pytest.fixture
def make_engine(rpc, signer, journal):
    async def make(**cfg) -> TxEngine:
        cfg.setdefault("presence_every", 0.0)  # faults are injected right before a poll
        eng = TxEngine(rpc, signer, journal, EngineConfig(chain_id=CHAIN_ID, **cfg))
        await eng.start()
        return eng

    return make
