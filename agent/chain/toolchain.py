"""Where the npm-shipped binaries live (anvil, forge, cast), with an actionable error if not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from agent.errors import EnvironmentError_

REPO_ROOT = Path(__file__).resolve().parents[2]


def foundry_bin(tool: str) -> str:
    """Path of ``anvil``/``forge``/``cast``: $AGENT_<TOOL>, the repo's node_modules, then PATH."""
    env = os.environ.get(f"AGENT_{tool.upper()}")
    if env:
        return env
    local = REPO_ROOT / "node_modules" / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool
    if local.exists():
        return str(local)
    found = shutil.which(tool)
    if found:
        return found
    raise EnvironmentError_(
        f"{tool} not found: run scripts/setup (it installs @foundry-rs/{tool}-linux-amd64 from npm)"
    )
