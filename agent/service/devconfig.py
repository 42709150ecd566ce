"""The ready ``agent.toml`` that ``agent devnet up`` writes next to its manifests, with an
``agent.env`` (mode 0600) holding the dev operator key and fresh API tokens: the file never
holds a secret, the env file is what ``source`` gives the daemon."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from agent.service.example import ExampleValues, render

DEV_KEY_ROLES = (  # agent/deploy/devworld.py: anvil's default mnemonic, dev chains only
    ("deployer / token minter", "DEPLOYER_KEY"),
    ("Safe owner 1", "OWNER_KEYS[0]"),
    ("Safe owner 2", "OWNER_KEYS[1]"),
    ("Safe owner 3", "OWNER_KEYS[2]"),
    ("agent operator (signs module calls)", "OPERATOR_KEY"),
    ("market maker", "MARKET_MAKER_KEY"),
    ("bridge relayer 1", "RELAYER_KEYS[0]"),
    ("bridge relayer 2", "RELAYER_KEYS[1]"),
    ("bridge relayer 3", "RELAYER_KEYS[2]"),
    ("guardian (may pause the module)", "GUARDIAN_KEY"),
)


def dev_key_roles() -> list[tuple[str, str]]:
    """(role, address) of every dev key."""
    from agent.chain.devnet import DEV_KEYS
    from agent.deploy.devworld import address_of

    return [(role, address_of(k)) for (role, _), k in zip(DEV_KEY_ROLES, DEV_KEYS, strict=False)]


def write_dev_config(
    state_dir: Path, world: Any, wallet: Any, *, api_port: int = 8080
) -> tuple[Path, Path]:
    """agent.toml + agent.env in ``state_dir`` for ``world``'s L1 wallet ``wallet``."""
    from agent.deploy.devworld import GUARDIAN_KEY, OPERATOR_KEY

    l1p, l2p = world.manifest_paths
    policy = Path(wallet.policy_file)
    values = ExampleValues(
        journal="journal.sqlite",
        l1_chain_id=world.l1.chain_id,
        l1_rpc=world.devnets.l1.rpc_url,
        l1_manifest=l1p.name,
        l2_chain_id=world.l2.chain_id,
        l2_rpc=world.devnets.l2.rpc_url,
        l2_manifest=l2p.name,
        safe=wallet.safe,
        module=wallet.module,
        policy=policy.name if policy.parent.resolve() == state_dir.resolve() else str(policy),
        api_port=api_port,
        guardian=True,
    )
    cfg = state_dir / "agent.toml"
    cfg.write_text(render(values))
    env = state_dir / "agent.env"
    lines = [
        f"export AGENT_OPERATOR_KEY={OPERATOR_KEY}",
        f"export AGENT_GUARDIAN_KEY={GUARDIAN_KEY}",
    ] + [
        f"export AGENT_API_TOKEN_{role.upper()}={secrets.token_urlsafe(24)}"
        for role in ("admin", "trade", "read")
    ]
    fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# dev secrets for agent.toml: `source` this file, never commit it\n")
        f.write("\n".join(lines) + "\n")
    return cfg, env


def read_env(path: Path) -> dict[str, str]:
    """The ``export K=V`` lines of the agent.env :func:`write_dev_config` writes."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            k, _, v = line.removeprefix("export ").partition("=")
            out[k] = v
    return out
