"""Errors of the policy area (subclasses of the shared tree in agent.errors)."""

from __future__ import annotations

from agent.errors import ConfigError


class PolicyFileError(ConfigError):
    """A policy document is malformed or unsafe: names the file, line and field."""

    code = "POLICY_INVALID"

    def __init__(
        self,
        file: str,
        line: int | None,
        field: str,
        problem: str,
        fix: str = "",
        *,
        code: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}", problem, fix, code=code)
        self.field = field


class UnsafePolicyError(PolicyFileError):
    """Grants a dangerous power (unlimited approval, delegatecall, calls to the Safe) without
    an acknowledgement naming the risk."""

    code = "POLICY_UNSAFE"
