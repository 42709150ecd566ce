"""agent.toml: the example is valid and documents every field; errors name file:line:field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.errors import ConfigError
from agent.service.config import AgentConfig, load, parse
from agent.service.example import ExampleValues, render
from agent.service.tomlpos import line_of

P = Path("agent.toml")


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        if f.exclude:
            continue
        out.append(prefix + name)
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_fields(ann, prefix + name + "."))
    return out


def test_example_parses_and_names_every_field() -> None:
    text = render()
    cfg = parse(text, P)
    assert set(cfg.chains) == {"l1", "l2"} and cfg.wallets["l1"].signer_key_env
    assert cfg.risk.limits().max_order_notional == 1_000_000
    for dotted in _fields(AgentConfig):
        leaf = dotted.rsplit(".", 1)[-1]
        assert f"{leaf} =" in text or f"[{dotted}" in text or f"{leaf}]" in text, dotted


def test_filled_example_carries_the_values() -> None:
    v = ExampleValues(safe="0x" + "11" * 20, module="0x" + "22" * 20, policy="p.toml")
    cfg = parse(render(v), Path("/x/agent.toml"))
    assert cfg.wallets["l1"].safe == v.safe
    assert cfg.resolve(cfg.policy.file) == Path("/x/p.toml")  # type: ignore[arg-type]


def _err(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse(text, P)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def _edit(old: str, new: str) -> str:
    text = render()
    assert old in text
    return text.replace(old, new, 1)


def _lineno(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith(needle))


@pytest.mark.parametrize(
    ("old", "new", "field", "needle"),
    [
        ("port = 8080", 'port = "x"', "api.port", "port ="),
        ("chain_id = 31338", "chain_id = -1", "chains.l2.chain_id", "chain_id = -1"),
        (
            'safe = "0x0000000000000000000000000000000000005afe"',
            'safe = "0x123"',
            "wallets.l1.safe",
            "safe =",
        ),
        ('role = "trade"', 'role = "god"', "api.tokens.1.role", 'role = "god"'),
        (
            'chain = "l1"\n\n[venues.uniswap_v3_l1]',
            'chain = "l9"\n\n[venues.uniswap_v3_l1]',
            "venues.uniswap_v2_l1.chain",
            'chain = "l9"',
        ),
        ("max_orders = 50", "max_orders = 50\nmax_ordrs = 5", "risk.max_ordrs", "max_ordrs"),
        (
            'max_order_notional = "1000000"',
            'max_order_notional = "abc"',
            "risk.max_order_notional",
            "max_order_notional",
        ),
    ],
)
def test_errors_name_file_line_and_field(old: str, new: str, field: str, needle: str) -> None:
    text = _edit(old, new)
    msg = _err(text)
    assert f"agent.toml:{_lineno(text, needle)}: {field}:" in msg, msg


def test_inline_secret_is_refused_with_the_fix() -> None:
    msg = _err(_edit('signer_key_env = "AGENT_OPERATOR_KEY"', 'signer_key = "0xdead"'))
    assert "signer_key_env" in msg and "environment variable" in msg


def test_wallet_on_unknown_chain() -> None:
    msg = _err(_edit("[wallets.l1]", "[wallets.l7]"))
    assert "wallets.l7" in msg and "no chain named 'l7'" in msg


def test_margin_thresholds_ordered() -> None:
    msg = _err(_edit("margin_critical = 0.8", "margin_critical = 0.3"))
    assert "monitor" in msg and "margin_warning < margin_critical" in msg


def test_toml_syntax_error_has_line() -> None:
    msg = _err("[journal]\npath = \n")
    assert msg.startswith("[CONFIG_INVALID] agent.toml:2:")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file; write one with `agent config init"):
        load(tmp_path / "none.toml")


def test_no_chains() -> None:
    assert "chains: is required" in _err("[journal]\n")


def test_line_of_arrays_and_inline_tables() -> None:
    text = "[a]\nx = { y = 1 }\n[[t]]\nr = 1\n[[t]]\nr = 2\n"
    assert line_of(text, ("a", "x", "y")) == 2
    assert line_of(text, ("t", 1, "r")) == 6
    assert line_of(text, ("t", 0, "r")) == 4
    assert line_of(text, ("zz",)) == 0


def test_postgres_journal_is_kept_as_a_url() -> None:
    from agent.journal.stores import postgres_location

    cfg = parse(
        _edit('path = "journal.sqlite"', 'path = "postgresql://u@h/db#fleet"'),
        Path("/x/agent.toml"),
    )
    loc = cfg.resolve(cfg.journal.path)  # not made relative to the config file's directory
    assert postgres_location(loc) == ("postgresql://u@h/db", "fleet")


def test_fix_section() -> None:
    fix = '\n[fix]\nport = 0\n[[fix.sessions]]\ntarget_comp_id = "DESK"\nusername = "d"\n'
    cfg = parse(_edit("", "") + fix + 'password_env = "PW"\n', Path("/x/agent.toml"))
    assert cfg.fix is not None and cfg.fix.sessions[0].sender_comp_id == "AGENT"
    with pytest.raises(ConfigError, match="PW is not set"):
        cfg.fix.session_configs(cfg)
    for bad, needle in (
        ('password = "x"', "secrets are never read from the file"),
        (
            'password_env = "PW"\n[[fix.sessions]]\ntarget_comp_id = "A.B"\nusername = "u"\n'
            'password_env = "PW"',
            "fix.sessions.1.target_comp_id",
        ),
        ('password_env = "PW"\n[fix.x]', "fix.x"),
    ):
        assert needle in _err(_edit("", "") + fix + bad + "\n")
