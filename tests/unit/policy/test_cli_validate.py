"""`agent policy validate` without a chain: syntax-only without a manifest, one-line errors for
a directory, strict types (no coercion), and the new unsafe-grant refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli.main import app

from .conftest import EXAMPLE, HEADER

runner = CliRunner()
L1 = Path(__file__).resolve().parents[3] / "agent" / "deploy" / "policies" / "l1.toml"


@pytest.fixture(autouse=True)
def _no_devnet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .state/devnet here: validate has no manifest to find


def validate(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, ["policy", "validate", *args])
    return r.exit_code, r.output


def test_syntax_only_without_a_manifest() -> None:
    code, out = validate(str(EXAMPLE))
    assert code == 0 and "names NOT checked" in out, out
    code, out = validate(str(L1))  # the dev template: ${...} placeholders are only strings here
    assert code == 0, out


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (HEADER.replace('name = "t"', 'name = "t"\nkill_switch = "yes"'), "kill_switch"),
        (HEADER.replace("id = 1", 'id = "1"'), "roles[0].id"),
        (HEADER + '[[roles.rules]]\ntarget = "SwapRouter"\nfunction = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160) p)"\n',
         "POLICY_UNSAFE"),
    ],
)  # fmt: skip
def test_bad_documents_are_one_line(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "p.toml"
    p.write_text(text)
    code, out = validate(str(p))
    assert code == 2 and needle in out, out
    assert "Traceback" not in out


def test_a_directory_is_one_line(tmp_path: Path) -> None:
    code, out = validate(str(tmp_path))
    assert code == 2 and "is a directory" in out and "Traceback" not in out, out
    code, out = validate(str(EXAMPLE), "--manifest", str(tmp_path))
    assert code == 2 and "is a directory" in out and "Traceback" not in out, out
