from __future__ import annotations

from dataclasses import replace

from agent.policy import compile_policy, diff
from agent.policy.compiler import (
    REMOVE_SCOPE,
    SET_ALLOWANCE,
    SET_OPERATOR,
    SET_SCOPE,
    SET_SET,
    ModuleConfig,
)


def test_fresh_module_gets_everything(policy) -> None:  # type: ignore[no-untyped-def]
    desired = compile_policy(policy)
    changes = diff(ModuleConfig(), desired, policy)
    kinds = [c.data[:4] for c in changes]
    assert kinds.count(SET_SCOPE) == 7 and kinds.count(SET_OPERATOR) == 1
    assert (
        kinds.count(SET_ALLOWANCE) == 2 and kinds.count(SET_SET) == 4
    )  # tokens, spenders, one_of fee
    assert [c.text.split()[0] for c in changes if c.kind != "+"] == ["multisend"]
    assert any("exactInputSingle" in c.text for c in changes)


def test_applied_config_has_no_diff_and_removals_are_explicit(policy) -> None:  # type: ignore[no-untyped-def]
    desired = compile_policy(policy)
    assert diff(desired, desired, policy) == []
    extra_key = (1, "0x" + "99" * 20, b"\x12\x34\x56\x78")
    current = replace(
        desired,
        scopes={**desired.scopes, extra_key: next(iter(desired.scopes.values()))},
        operators={**desired.operators, "0x" + "98" * 20: 2},
    )
    changes = diff(current, desired, policy)
    assert [c.kind for c in changes] == ["-", "-"]
    assert changes[1].data[:4] == REMOVE_SCOPE
    assert changes[0].data[:4] == SET_OPERATOR and changes[0].data.endswith((0).to_bytes(32, "big"))


def test_kill_switch_pauses_first(policy) -> None:  # type: ignore[no-untyped-def]
    killed = replace(policy, kill_switch=True)
    changes = diff(ModuleConfig(), compile_policy(killed), killed)
    assert changes[0].text.startswith("pause")
    back = diff(compile_policy(killed), compile_policy(policy), policy)
    assert back[-1].text.startswith("unpause")
