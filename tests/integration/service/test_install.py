"""Installable like a library: `pip install .` (not editable) into a fresh virtualenv made by
the machine's own ``python3 -m venv`` (its stock pip, not upgraded) gives an ``agent`` that
works from any directory, reading its ABIs, examples and contract artifacts from package data.

Slow (a full dependency install); pip's own cache makes re-runs quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# a full dependency install on a loaded 2-core machine outlasts the default 300 s
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1500)]


def _sh(args: list[str], cwd: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    kw.setdefault("timeout", 900)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("install")
    venv = root / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)  # not this test's .venv
    r = _sh([base_python, "-m", "venv", str(venv)], root)
    assert r.returncode == 0, r.stderr
    r = _sh([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], root)
    assert r.returncode == 0, r.stderr[-3000:]
    return venv


def test_agent_runs_from_another_directory(installed: Path, tmp_path: Path) -> None:
    agent = str(installed / "bin" / "agent")
    r = _sh([agent, "--help"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "policy" in r.stdout and "devnet" in r.stdout
    r = _sh([agent, "policy", "init", "p.toml"], tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "p.toml").read_text()
    assert "[[roles]]" in text
    r = _sh([agent, "config", "init", "agent.toml"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = _sh([agent, "config", "validate", "agent.toml"], tmp_path)
    assert r.returncode == 0 and "ok (2 chains" in r.stdout, r.stderr


def test_resources_come_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import json, agent, agent.chain.toolchain as t\n"
        "from agent.deploy.artifacts import load\n"
        "from agent.policy.onchain import module_artifact\n"
        "from agent.policy.abis import functions\n"
        "print(json.dumps({'pkg': agent.__file__, 'data': str(t.DATA_ROOT),\n"
        "  'safe': len(load('Safe').bytecode), 'dev': len(load('DevToken').bytecode),\n"
        "  'module': len(module_artifact()['abi']), 'fns': len(functions('SwapRouter'))}))\n"
    )
    r = _sh([str(installed / "bin" / "python"), "-c", probe], tmp_path)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    site = str(installed)
    assert got["pkg"].startswith(site) and got["data"].startswith(site), got
    assert not got["data"].startswith(str(REPO)), got
    assert got["safe"] > 1000 and got["dev"] > 100 and got["module"] > 5 and got["fns"] > 3


def test_no_py_evm_dependency(installed: Path, tmp_path: Path) -> None:
    r = _sh([str(installed / "bin" / "pip"), "show", "py-evm"], tmp_path)
    assert r.returncode != 0  # not a dependency any more (the agent never imported it)


def test_setup_prints_no_escape_codes_into_a_pipe() -> None:
    r = _sh([str(REPO / "scripts" / "setup")], REPO)  # idempotent: stamps skip what is current
    assert r.returncode == 0, r.stderr[-2000:]
    assert "==> setup ok" in r.stderr
    assert "\x1b[" not in r.stdout + r.stderr
