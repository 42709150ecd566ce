"""Real processes for the threshold signer: the CLI's keygen (two processes over loopback),
`agent signer serve` as party 2, and a fresh anvil per module."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.chain import devnet

CHAIN_ID = 31_337_018


def agent_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=timeout
    )


class Serve:
    """`agent signer serve` in a process of its own; ``peer`` is its host:port."""

    def __init__(self, share: Path, listen: str = "127.0.0.1:0") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "signer", "serve", "--share", str(share),
             "--listen", listen],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("serving "):
            self.proc.kill()
            raise RuntimeError(f"signer serve did not start: {line} {self.proc.stderr.read()}")
        self.address = line.split()[1]
        self.peer = line.split()[-1]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        return out


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("tss")
    r = agent_cli("signer", "keygen", "--out-dir", str(d))
    assert r.returncode == 0, r.stderr
    address = r.stdout.split()[1]
    return {
        "dir": d,
        "p1": d / "party1.share.json",
        "p2": d / "party2.share.json",
        "address": address,
    }


@pytest.fixture
def serve(keys) -> Iterator[Serve]:
    s = Serve(keys["p2"])  # type: ignore[arg-type]
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def anvil(tmp_path_factory) -> Iterator[devnet.Devnet]:
    d = devnet.start(
        devnet.DevnetSpec("signing", CHAIN_ID), log_dir=tmp_path_factory.mktemp("anvil-logs")
    )
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    for k in ("AGENT_THRESHOLD_SHARE", "AGENT_THRESHOLD_PEER", "AGENT_THRESHOLD_PASSWORD"):
        monkeypatch.delenv(k, raising=False)
