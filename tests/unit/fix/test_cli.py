"""`agent fix serve` as a user runs it: a real process, a real socket, SIGTERM to stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.errors import ValidationError
from agent.service.fix.config import load_sessions

from .initiator import Initiator, get

TOML = """
[[session]]
sender_comp_id = "AGENT"
target_comp_id = "DESK"
username = "desk"
password_env = "FIX_TEST_PW"
"""


async def test_serve_takes_an_order_and_stops_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "fix.toml").write_text(TOML)
    env = {**os.environ, "FIX_TEST_PW": "secret"}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "fix",
            "serve",
            "-s",
            str(tmp_path / "fix.toml"),
            "-j",
            str(tmp_path / "j.sqlite"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = p.stdout.readline()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))
        c = Initiator(port)
        await c.connect()
        await c.logon()
        await c.send(
            "D",
            [
                (11, "cli1"),
                (55, "WETH/USDC"),
                (54, 2),
                (60, "20260101-00:00:00"),
                (38, "1"),
                (40, 1),
            ],
        )
        er = await c.expect("8")
        assert (get(er, 150), get(er, 11)) == ("0", "cli1")
        await c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    orders = subprocess.run(
        [sys.executable, "-m", "agent.cli", "orders", "-j", str(tmp_path / "j.sqlite"), "--json"],
        capture_output=True,
        text=True,
    )
    assert "DESK.cli1" in orders.stdout


def test_session_settings_errors_name_the_field(tmp_path: Path) -> None:
    f = tmp_path / "fix.toml"
    f.write_text(TOML)
    with pytest.raises(ValidationError, match=r"password_env.*FIX_TEST_PW is not set"):
        load_sessions(f, env={})
    assert load_sessions(f, env={"FIX_TEST_PW": "x"})[0].password == "x"
    f.write_text(TOML.replace('password_env = "FIX_TEST_PW"', 'password = "inline"'))
    with pytest.raises(ValidationError, match=r"session\[0\]\.password"):
        load_sessions(f, env={})
    f.write_text(TOML.replace('"DESK"', '"DE.SK"'))
    with pytest.raises(ValidationError, match="target_comp_id"):
        load_sessions(f, env={"FIX_TEST_PW": "x"})
    r = subprocess.run(
        [sys.executable, "-m", "agent.cli", "fix", "serve", "-s", str(f)],
        capture_output=True,
        text=True,
        env={**os.environ, "FIX_TEST_PW": "x"},
    )
    assert r.returncode == 2 and "target_comp_id" in r.stderr and "Traceback" not in r.stderr
