"""Busy ports, as a new user meets them: one line naming the field and the fix, exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
AGENT = [sys.executable, "-m", "agent.cli"]


@pytest.fixture
def busy_port() -> Iterator[int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def test_exchange_sim_on_a_busy_port(busy_port: int) -> None:
    r = subprocess.run(
        [*AGENT, "exchange-sim", "--port", str(busy_port)], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"port: cannot listen on 127.0.0.1:{busy_port}" in r.stderr
    assert "pick another --port" in r.stderr


def test_agent_run_on_a_busy_port(busy_port: int, svc_config: tuple[Path, dict[str, str]]) -> None:
    cfg = svc_config[0]
    cfg.write_text(cfg.read_text().replace("port = 0", f"port = {busy_port}"))
    env = dict(svc_config[1])
    r = subprocess.run(
        [*AGENT, "run", "--config", str(cfg)], capture_output=True, text=True, timeout=120,
        env={**os.environ, **env},
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    err = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(err) == 1 and f"api.port: cannot listen on 127.0.0.1:{busy_port}" in err[0]


def test_agent_run_without_the_config_file(tmp_path: Path) -> None:
    r = subprocess.run(
        [*AGENT, "run", "--config", str(tmp_path / "agent.toml")], capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "no such file; write one with `agent config init" in r.stderr
