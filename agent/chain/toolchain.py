"""Where the npm-shipped binaries live (anvil, forge, cast), with an actionable error if not."""

from __future__ import annotations

import os
import shutil
from importlib.resources import files
from pathlib import Path

from agent.errors import EnvironmentError_

# The checkout this module was imported from (editable installs and scripts/ only).
SOURCE_ROOT = Path(__file__).resolve().parents[2]
# Run-time resources (abis/, examples/, node_modules/ artifacts, out/) in the checkout's
# layout: an installed wheel carries them under agent/_data (setup.py copies them at build
# time); a checkout reads them in place. Every reader of those files resolves from here.
_PACKAGED = Path(str(files("agent"))) / "_data"
DATA_ROOT = _PACKAGED if _PACKAGED.is_dir() else SOURCE_ROOT
REPO_ROOT = DATA_ROOT  # the name the readers import


def foundry_bin(tool: str) -> str:
    """Path of ``anvil``/``forge``/``cast``: $AGENT_<TOOL>, the repo's node_modules, then PATH."""
    env = os.environ.get(f"AGENT_{tool.upper()}")
    if env:
        return env
    local = SOURCE_ROOT / "node_modules" / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool
    if local.exists():
        return str(local)
    found = shutil.which(tool)
    if found:
        return found
    raise EnvironmentError_(
        f"{tool} not found: run scripts/setup (it installs @foundry-rs/{tool}-linux-amd64 from npm)"
    )
