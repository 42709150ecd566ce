from __future__ import annotations

from pathlib import Path

import pytest

from agent.policy import load_policy
from agent.policy.errors import PolicyFileError, UnsafePolicyError
from agent.policy.schema import parse_policy_text

from .conftest import EXAMPLE, HEADER, MANIFEST, write


def test_example_loads(policy) -> None:  # type: ignore[no-untyped-def]
    assert len(policy.rules) == 7
    assert policy.roles[1].max_slippage_bps == 50


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ('version = 1\nname = "x"\n', None, "safe"),
        ('version = 2\nname = "x"\nsafe = "0x"\n', 1, "version"),
        (HEADER + "colour = 3\n", 10, "roles[0].colour"),
        (HEADER + '[[roles.rules]]\ntarget = "USDC"\n', 10, "roles[0].rules[0].function"),
        (
            HEADER + '[[roles.rules]]\ntarget = "USDC"\nfunction = "f()"\nmax_value = "-1"\n',
            13,
            "roles[0].rules[0].max_value",
        ),
        (
            HEADER
            + '[[roles.rules]]\ntarget = "USDC"\nfunction = "f(uint256 a)"\n[roles.rules.where]\na = { le = 1, ge = 2 }\n',
            14,
            "roles[0].rules[0].where.a",
        ),
        ("version = 1\nname = [\n", 2, "(syntax)"),
    ],
)
def test_malformed_documents_name_file_line_and_field(
    text: str, line: int | None, field: str
) -> None:
    with pytest.raises(PolicyFileError) as e:
        parse_policy_text(text, "p.toml")
    assert e.value.field == field, str(e.value)
    assert e.value.line == line, str(e.value)
    assert str(e.value).startswith("[POLICY_INVALID] p.toml")


def _rule(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, HEADER + "[[roles.rules]]\n" + body)


@pytest.mark.parametrize(
    ("body", "ack", "needle"),
    [
        (
            'target = "USDC"\nfunction = "approve(address spender,uint256 amount)"\n',
            "unlimited-approval",
            "unlimited approval",
        ),
        (
            'target = "USDC"\nfunction = "approve(address spender,uint256 amount)"\n[roles.rules.where]\namount = { le = "0x8000000000000000000000000000000000000000000000000000000000000000" }\n',
            "unlimited-approval",
            "unlimited approval",
        ),
        (
            'target = "safe"\nfunction = "enableModule(address module)"\n',
            "calls-safe",
            "Safe itself",
        ),
        (
            'target = "SwapRouter"\nfunction = "refundETH()"\ndelegatecall = true\n',
            "delegatecall",
            "delegatecall",
        ),
    ],
)
def test_dangerous_grants_need_an_acknowledgement(
    tmp_path: Path, body: str, ack: str, needle: str
) -> None:
    with pytest.raises(UnsafePolicyError, match=needle) as e:
        load_policy(_rule(tmp_path, body), MANIFEST)
    assert e.value.code == "POLICY_UNSAFE" and e.value.line is not None
    lines = body.split("\n")
    lines.insert(2, f'acknowledge = ["{ack}"]')
    assert load_policy(_rule(tmp_path, "\n".join(lines)), MANIFEST).rules


def test_capped_approval_passes(tmp_path: Path) -> None:
    p = _rule(
        tmp_path,
        'target = "USDC"\nfunction = "approve(address spender,uint256 amount)"\n[roles.rules.where]\namount = { le = "100 USDC" }\n',
    )
    (r,) = load_policy(p, MANIFEST).rules.values()
    assert r.conditions[0].value == 100 * 10**6


def test_module_is_never_a_target_even_acknowledged(tmp_path: Path) -> None:
    text = HEADER.replace(
        'name = "t"', 'name = "t"\nmodule = "0x00000000000000000000000000000000000000ab"'
    )
    p = write(
        tmp_path,
        text
        + '[[roles.rules]]\ntarget = "module"\nfunction = "f()"\nacknowledge = ["calls-safe"]\n',
    )
    with pytest.raises(UnsafePolicyError, match="never be a target"):
        load_policy(p, MANIFEST)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('target = "Nope"\nfunction = "f()"\n', "neither an address nor a name"),
        (
            'target = "0x00000000000000000000000000000000000000f1"\nfunction = "f(uint256 a)"\n[roles.rules.where]\nb = { eq = 1 }\n',
            "no parameter 'b'",
        ),
        (
            'target = "0x00000000000000000000000000000000000000f1"\nfunction = "f(address a)"\n[roles.rules.where]\na = { in_set = "nope" }\n',
            "no set named",
        ),
        (
            'target = "0x00000000000000000000000000000000000000f1"\nfunction = "f(uint256 a)"\n[roles.rules.where]\na = { allowance = "nope" }\n',
            "no allowance named",
        ),
        (
            'target = "0x00000000000000000000000000000000000000f1"\nfunction = "f(address a)"\n[roles.rules.where]\na = { le = 3 }\n',
            "compares unsigned",
        ),
        (
            'target = "0x00000000000000000000000000000000000000f1"\nfunction = "f(uint256 a)"\n[roles.rules.where]\na = { le = "1.0000001 USDC" }\n',
            "more decimals",
        ),
        (
            'target = "0x00000000000000000000000000000000000000f1"\nfunction = "f()"\n[[roles.rules]]\ntarget = "0x00000000000000000000000000000000000000f1"\nfunction = "f()"\n',
            "already granted",
        ),
        # checked against abis/: a typo in a known contract's signature is refused
        (
            'target = "USDC"\nfunction = "approve(address spender,uint128 amount)"\n',
            r"USDC has no function approve\(address,uint128\) in abis/DevToken.json",
        ),
        (
            'target = "SwapRouter"\nfunction = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256) p)"\n',
            "no function exactInputSingle.*abis/SwapRouter.json",
        ),
        ('target = "WETH"\nfunction = "mint(address to,uint256 a)"\n', "abis/WETH9.json"),
    ],
)
def test_resolution_errors(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(PolicyFileError, match=needle) as e:
        load_policy(_rule(tmp_path, body), MANIFEST)
    assert e.value.line is not None


def test_screening_files(tmp_path: Path) -> None:
    write(tmp_path, "name,address\nbad,0x" + "ab" * 20 + "\n", "deny.csv")
    write(tmp_path, "# cex deposit\n0x" + "cd" * 20 + "\n", "allow.txt")
    text = HEADER.replace(
        "[sets]", '[screening]\ndenylist = "deny.csv"\nallowlist = "allow.txt"\n[sets]'
    )
    p = load_policy(write(tmp_path, text), MANIFEST)
    assert p.denylist == {"0x" + "ab" * 20} and p.allowlist == {"0x" + "cd" * 20}
    write(tmp_path, "0x" + "cd" * 20 + "\nnot-an-address\n", "allow.txt")
    with pytest.raises(PolicyFileError) as e:
        load_policy(write(tmp_path, text), MANIFEST)
    assert e.value.line == 2 and e.value.file.endswith("allow.txt")


def test_example_is_valid_toml() -> None:
    assert parse_policy_text(EXAMPLE.read_text()).name == "fund-alpha"
