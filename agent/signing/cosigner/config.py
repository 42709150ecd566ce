"""``agent cosigner run --config FILE``: the co-signer's TOML configuration.

::

    key_env = "COSIGNER_KEY"          # env var holding the co-signer's own key (never the operator's)
    policy = "policy.toml"            # its own copy of the policy (relative to this file)
    manifest = "devnet.json"          # the deployment manifest the policy resolves against
    rpc_url = "http://127.0.0.1:8545" # its own node: reads, oracle prices, simulation
    module = "0x..."                  # optional; must equal the policy's module
    host = "127.0.0.1"
    port = 8750                       # 0 = any free port (tests)
    deadline_seconds = 120            # how long a co-signature stays valid on-chain
    simulation = "trace"              # or "fallback" (eth_call only, with a warning)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

_KEYS = {
    "key_env", "policy", "manifest", "rpc_url", "module", "host", "port",
    "deadline_seconds", "simulation",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CosignerConfig:
    key_env: str
    policy: Path
    manifest: Path
    rpc_url: str
    module: str | None = None
    host: str = "127.0.0.1"
    port: int = 8750
    deadline_seconds: int = 120
    simulation: str = "trace"


def _str(d: dict[str, Any], k: str, path: Path) -> str:
    v = d.get(k)
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{path}: {k}", "is missing or not a string", f'set {k} = "..."')
    return v


def load_config(path: str | Path) -> CosignerConfig:
    p = Path(path)
    try:
        d = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(
            "--config", f"{p} does not exist", "pass the co-signer's TOML file"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}", f"not readable TOML ({e})", "fix the syntax") from None
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{p}: {unknown[0]}", "is not a co-signer setting", f"use {sorted(_KEYS)}"
        )
    base = p.parent
    port = d.get("port", 8750)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise ConfigError(f"{p}: port", f"{port!r} is not a TCP port", "use 0..65535")
    ttl = d.get("deadline_seconds", 120)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 3600:
        raise ConfigError(
            f"{p}: deadline_seconds", f"{ttl!r} is out of range", "use 1..3600 (seconds)"
        )
    sim = d.get("simulation", "trace")
    if sim not in ("trace", "fallback"):
        raise ConfigError(f"{p}: simulation", f"{sim!r} is not a mode", 'use "trace" or "fallback"')
    module = d.get("module")
    if module is not None and not isinstance(module, str):
        raise ConfigError(f"{p}: module", "is not an address string", 'set module = "0x..."')
    return CosignerConfig(
        key_env=_str(d, "key_env", p),
        policy=base / _str(d, "policy", p),
        manifest=base / _str(d, "manifest", p),
        rpc_url=_str(d, "rpc_url", p),
        module=module,
        host=str(d.get("host", "127.0.0.1")),
        port=port,
        deadline_seconds=ttl,
        simulation=sim,
    )
