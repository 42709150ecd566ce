"""Put a PolicyModule on a Safe, configured from a policy document, in one call: deploy the
module, bind the document to it, and execute the owners' Safe transaction that enables and
configures it (the real apply path: read back, diff, ONE MultiSend Safe tx, k signatures).

    installed = install_policy_module(
        Transactor(rpc_url, deployer_key), manifest, safe, template_text, owner_keys, 2,
        path=state_dir / "policy.toml", variables={"OPERATOR": operator},
    )
    installed.module, installed.policy, installed.path

The template's ``${SAFE}`` and ``${MODULE}`` are filled in here; ``variables`` fill the rest
(an unfilled ``${NAME}`` is refused, naming it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils import to_checksum_address

from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.errors import ValidationError
from agent.policy.apply import deploy_module, execute, plan_apply, sign_as_owner
from agent.policy.model import Policy
from agent.policy.resolve import load_policy

_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")


@dataclass(frozen=True)
class InstalledPolicy:
    module: str
    policy: Policy  # loaded from ``path``: the document both sides now enforce
    path: Path
    changes: int  # module configuration changes the Safe transaction made


def bind(text: str, variables: Mapping[str, str], source: str = "policy") -> str:
    """Fill ``${NAME}`` placeholders; an unfilled one is a ValidationError naming it."""

    def fill(m: re.Match[str]) -> str:
        if m.group(1) not in variables:
            raise ValidationError(
                f"{source}: ${{{m.group(1)}}}",
                "is a template variable with no value",
                f"pass it in variables={{'{m.group(1)}': ...}}",
            )
        return str(variables[m.group(1)])

    return _VAR.sub(fill, text)


def apply_with_keys(
    policy: Policy, tx: Transactor, owner_keys: Sequence[str], threshold: int
) -> int:
    """Bring the module in line with ``policy`` (enable it if needed) with ``threshold`` owner
    keys; returns the number of configuration changes (0: already up to date)."""
    plan = plan_apply(policy, tx.rpc_url)
    if plan.safe_tx is None:
        return 0
    keys = list(owner_keys)[:threshold]
    if len(keys) < threshold:
        raise ValidationError(
            "owner_keys", f"{len(keys)} owner keys, the Safe needs {threshold}", "pass more keys"
        )
    tx_hash = plan.safe_tx.hash()
    sigs = dict(sign_as_owner(plan.safe_tx, k, tx_hash) for k in keys)
    execute(tx, plan.safe_tx, sigs)
    return len(plan.changes) + int(plan.enable_module)


def install_policy_module(
    tx: Transactor,
    manifest: Manifest,
    safe: str,
    policy_text: str,
    owner_keys: Sequence[str],
    threshold: int,
    *,
    path: Path,
    variables: Mapping[str, str] | None = None,
) -> InstalledPolicy:
    """Deploy a PolicyModule for ``safe`` (paid by ``tx``), write ``policy_text`` bound to it
    to ``path`` (screening files are read relative to it), and enable + configure it with one
    Safe transaction signed by ``threshold`` of ``owner_keys``."""
    safe = to_checksum_address(safe)
    module = deploy_module(tx, safe, manifest.address("MultiSendCallOnly"))
    text = bind(policy_text, {"SAFE": safe, "MODULE": module, **(variables or {})}, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    policy = load_policy(path, manifest)
    if policy.safe.lower() != safe.lower():
        raise ValidationError(
            f"{path}: safe", f"is {policy.safe}, not {safe}", 'write safe = "${SAFE}"'
        )
    if policy.module is None or policy.module.lower() != module.lower():
        raise ValidationError(
            f"{path}: module", "does not name the deployed module", 'write module = "${MODULE}"'
        )
    changes = apply_with_keys(policy, tx, owner_keys, threshold)
    return InstalledPolicy(module, policy, path, changes)
