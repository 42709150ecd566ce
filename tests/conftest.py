"""Session fixtures shared by every test package.

``world``: L1 + L2 anvil devnets with the real world deployed ONCE per test session (each
pytest-xdist worker has its own). ``devnets`` is ``world.devnets``. Isolation: request
``isolated`` (or ``l1_isolated``/``l2_isolated``) to have the chain(s) reverted after the test.
Dev key roles are in agent/deploy/devworld.py.

``pg_server``: a real PostgreSQL server started in a temporary directory, once per session.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.chain.devnet import Devnet, DevnetPair
from agent.deploy.devworld import DevWorld, bring_up
from agent.journal.pgserver import PgServer, PgServerError


@pytest.fixture(scope="session", autouse=True)
def _scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Temp files the code makes for itself (e.g. deploy_wallet's default bound-policy file)
    go under pytest's own temp root, which keeps only the last few runs, not into /tmp for
    ever (a run left ~40 agent-policy-* directories behind)."""
    old = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("scratch"))
    try:
        yield
    finally:
        tempfile.tempdir = old


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevWorld]:
    w = bring_up(Path(tmp_path_factory.mktemp("devworld")))
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="session")
def devnets(world: DevWorld) -> DevnetPair:
    return world.devnets


def _isolate(chains: list[Devnet]) -> Iterator[None]:
    snaps = [(c, c.snapshot()) for c in chains]
    try:
        yield
    finally:
        for c, s in snaps:
            c.revert(s)


@pytest.fixture
def isolated(world: DevWorld) -> Iterator[None]:
    """Revert both chains to their state before the test."""
    yield from _isolate([world.devnets.l1, world.devnets.l2])


@pytest.fixture
def l1_isolated(world: DevWorld) -> Iterator[None]:
    yield from _isolate([world.devnets.l1])


@pytest.fixture
def l2_isolated(world: DevWorld) -> Iterator[None]:
    yield from _isolate([world.devnets.l2])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server in a temporary directory (initdb + pg_ctl), one per test
    session (per xdist worker). scripts/setup installs the server; without it this fails."""
    try:
        server = PgServer()
    except PgServerError as e:
        pytest.fail(str(e))
    try:
        yield server
    finally:
        server.close()
