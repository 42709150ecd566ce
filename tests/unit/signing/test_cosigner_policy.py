"""``requires_cosigner`` on a role: resolved, compiled to setCosigner, diffed both ways; the
Status mirror of the module's new codes; the co-signer's configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.policy.compiler import SET_COSIGNER, ModuleConfig, diff
from agent.policy.model import Status
from agent.signing.cosigner.config import load_config

SOL = Path(__file__).resolve().parents[3] / "contracts/policy/PolicyModule.sol"
CO = "0x00000000000000000000000000000000000c0516"


def test_status_mirrors_the_module():
    src = SOL.read_text()
    for name in ("COSIGNATURE_REQUIRED", "COSIGNATURE_INVALID", "COSIGNATURE_EXPIRED",
                 "COSIGNATURE_REPLAYED"):  # fmt: skip
        assert f"uint8 internal constant {name} = {int(Status[name])};" in src


def test_diff_sets_and_unsets_cosigner():
    on = ModuleConfig(cosigners={1: CO})
    add = diff(ModuleConfig(), on)
    assert [c.kind for c in add] == ["+"] and add[0].data[:4] == SET_COSIGNER
    assert add[0].data[4:].hex().endswith(CO[2:])
    assert diff(on, on) == []
    rm = diff(on, ModuleConfig())
    assert [c.kind for c in rm] == ["-"] and rm[0].data[-20:] == b"\x00" * 20
    assert "no longer requires" in rm[0].text


def _cfg(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(body)
    return p


BASE = 'key_env = "K"\npolicy = "p.toml"\nmanifest = "m.json"\nrpc_url = "http://127.0.0.1:1"\n'


def test_config_resolves_paths_relative_to_the_file(tmp_path):
    c = load_config(_cfg(tmp_path, BASE + "port = 0\n"))
    assert c.policy == tmp_path / "p.toml" and c.port == 0 and c.simulation == "trace"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("port = 70000\n", "port"),
        ("deadline_seconds = 0\n", "deadline_seconds"),
        ('simulation = "maybe"\n', "simulation"),
        ("colour = 1\n", "colour"),
    ],
)
def test_bad_config_names_the_field(tmp_path, extra, field):
    with pytest.raises(ConfigError) as e:
        load_config(_cfg(tmp_path, BASE + extra))
    assert field in str(e.value)


def test_missing_key_env(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_cfg(tmp_path, 'policy = "p"\nmanifest = "m"\nrpc_url = "x"\n'))
    assert "key_env" in str(e.value)


OPS = 'operators = ["0x0000000000000000000000000000000000000a6e"]'


def _example_with(tmp_path: Path, line: str) -> Path:
    from tests.unit.policy.conftest import EXAMPLE as _E  # the shared example policy

    text = _E.read_text()
    assert OPS in text
    p = tmp_path / "p.toml"
    p.write_text(text.replace(OPS, OPS + "\n" + line, 1))
    return p


def test_requires_cosigner_compiles(tmp_path):
    from agent.policy import load_policy
    from agent.policy.compiler import compile_policy
    from tests.unit.policy.conftest import MANIFEST

    pol = load_policy(_example_with(tmp_path, f'requires_cosigner = "{CO}"'), MANIFEST)
    assert pol.roles[1].cosigner is not None
    assert compile_policy(pol).cosigners == {1: CO}


def test_bad_requires_cosigner_names_the_field(tmp_path):
    from agent.errors import ValidationError
    from agent.policy import load_policy
    from tests.unit.policy.conftest import MANIFEST

    with pytest.raises(ValidationError) as e:
        load_policy(_example_with(tmp_path, 'requires_cosigner = "0x1234"'), MANIFEST)
    assert "requires_cosigner" in str(e.value)
