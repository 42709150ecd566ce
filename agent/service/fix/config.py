"""FIX sessions from a TOML file; passwords come from environment variables named there.

```toml
[[session]]
sender_comp_id = "AGENT"            # the agent's CompID
target_comp_id = "DESK"             # the client's CompID (it owns the orders it sends)
username = "desk"
password_env = "AGENT_FIX_DESK_PASSWORD"
max_heartbeat_s = 300               # optional
```
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from agent.errors import ValidationError
from agent.service.fix.session import SessionConfig

_KEYS = {"sender_comp_id", "target_comp_id", "username", "password_env", "max_heartbeat_s"}


def _comp_id(v: object, field: str) -> str:
    if not isinstance(v, str) or not v or not v.isprintable() or "." in v or len(v) > 32:
        raise ValidationError(field, f"{v!r} is not a CompID", "1-32 printable characters, no '.'")
    return v


def load_sessions(path: Path, env: dict[str, str] | None = None) -> list[SessionConfig]:
    env = os.environ if env is None else env  # type: ignore[assignment]
    if not path.is_file():
        raise ValidationError(
            "--sessions", f"{path} does not exist", "write a fix.toml (docs/fix.md)"
        )
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValidationError(str(path), f"is not valid TOML: {e}") from None
    raw = doc.get("session")
    if not isinstance(raw, list) or not raw:
        raise ValidationError(
            "session", "no [[session]] tables", "add one per client (docs/fix.md)"
        )
    out, seen = [], set()
    for i, s in enumerate(raw):
        where = f"session[{i}]"
        unknown = set(s) - _KEYS
        if unknown:
            raise ValidationError(
                f"{where}.{sorted(unknown)[0]}", "is not a setting", f"use {sorted(_KEYS)}"
            )
        if "password" in s:
            raise ValidationError(
                f"{where}.password", "secrets are not written in files", "set password_env"
            )
        sender = _comp_id(s.get("sender_comp_id"), f"{where}.sender_comp_id")
        target = _comp_id(s.get("target_comp_id"), f"{where}.target_comp_id")
        user = s.get("username")
        if not isinstance(user, str) or not user:
            raise ValidationError(f"{where}.username", "is missing", 'e.g. username = "desk"')
        var = s.get("password_env")
        if not isinstance(var, str) or not var:
            raise ValidationError(
                f"{where}.password_env", "is missing", "name the env var holding the password"
            )
        password = env.get(var)
        if not password:
            raise ValidationError(
                f"{where}.password_env", f"${var} is not set", f"export {var}=..."
            )
        hb = s.get("max_heartbeat_s", 300)
        if not isinstance(hb, int) or not 1 <= hb <= 3600:
            raise ValidationError(f"{where}.max_heartbeat_s", f"{hb!r} is out of range", "1-3600")
        if (sender, target) in seen:
            raise ValidationError(f"{where}", f"session {sender}->{target} is defined twice")
        seen.add((sender, target))
        out.append(SessionConfig(sender, target, user, password, hb))
    return out
