"""`agent trade order --algo ...` refuses inconsistent algorithm parameters before it reads a
chain or a key: one line naming the flag, exit 2, no traceback (the RPC given here does not
exist, so reaching it would fail differently). `agent report execution` is registered."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agent.cli.main import app as cli

BASE = [
    "trade", "order", "--side", "buy", "--base", "WETH", "--quote", "USDC", "--size", "10",
    "--client-id", "p-1", "--safe", "0x" + "11" * 20, "--module", "0x" + "22" * 20,
    "--rpc-url", "http://127.0.0.1:9", "--manifest", "/nonexistent/l1.manifest.json",
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--algo", "twap", "--horizon", "1m", "--interval", "5m"], "--interval"),
        (["--algo", "pov", "--participation", "0"], "--participation"),
        (["--algo", "pov", "--participation", "1.5"], "--participation"),
        (["--algo", "iceberg", "--limit", "3000", "--display", "10"], "--display"),
        (["--algo", "iceberg", "--limit", "3000", "--display", "12"], "--display"),
        (["--algo", "twap", "--deadline", "0s"], "--deadline"),
        (["--algo", "twap", "--deadline", "-5m"], "--deadline"),
        (["--algo", "wap"], "--algo"),
        (["--algo", "sniper"], "--limit"),
        (["--algo", "twap", "--size-jitter", "0.9"], "--size-jitter"),
        (["--algo", "twap", "--horizon", "soon"], "--horizon"),
        (["--algo", "twap", "--catch-up", "x"], "--catch-up"),
    ],
)
def test_bad_algo_input_names_the_flag(extra: list[str], flag: str) -> None:
    res = CliRunner().invoke(cli, [*BASE, *extra], env={"AGENT_OPERATOR_KEY": "0x" + "33" * 32})
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and flag in lines[0], res.output
    assert "Traceback" not in res.output


def test_without_algo_the_flags_are_not_checked() -> None:
    # the algorithm's defaults are not applied to a plain order: it fails on the manifest
    res = CliRunner().invoke(cli, [*BASE, "--horizon", "1m", "--interval", "5m"])
    assert res.exit_code == 2 and "manifest" in res.output.lower(), res.output


def test_report_execution_is_registered(tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = CliRunner().invoke(cli, ["report", "execution", "nope", "-j", str(tmp_path / "x.db")])
    assert res.exit_code == 2 and "--journal" in res.output, res.output
