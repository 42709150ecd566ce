"""`agent wallet deploy`: a Safe proxy (owners, threshold) with its PolicyModule enabled."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from agent.cli.common import console, run
from agent.errors import ValidationError

app = typer.Typer(help="Safe wallets.", no_args_is_help=True)


def _key_from(env: str | None, keystore: Path | None, password_env: str | None) -> str:
    if keystore is not None:
        import json

        from eth_account import Account

        pw = os.environ.get(password_env or "", "")
        if not pw:
            raise ValidationError(
                "--password-env",
                "names no set environment variable",
                "export the keystore password",
            )
        try:
            return "0x" + bytes(Account.decrypt(json.loads(keystore.read_text()), pw)).hex()
        except (ValueError, OSError) as e:
            raise ValidationError(
                "--keystore", f"cannot decrypt {keystore}: {e}", "check the file and password"
            ) from e
    if env:
        v = os.environ.get(env)
        if not v:
            raise ValidationError(
                "--key-env", f"environment variable {env} is not set", f"export {env}=0x..."
            )
        return v
    raise ValidationError("deployer key", "missing", "pass --key-env NAME or --keystore FILE")


@app.command()
def deploy(
    rpc_url: str = typer.Option(..., "--rpc-url", help="Any JSON-RPC URL."),
    manifest: Path = typer.Option(..., "--manifest", help="Deployment manifest of that chain."),
    owner: list[str] = typer.Option(..., "--owner", help="Owner address (repeat)."),
    threshold: int = typer.Option(..., "--threshold", help="Signatures required (k of n)."),
    operator: str = typer.Option(..., "--operator", help="The agent's operator address."),
    key_env: str | None = typer.Option(None, "--key-env", help="Env var holding the deployer key."),
    keystore: Path | None = typer.Option(
        None, "--keystore", help="Encrypted keystore of the deployer."
    ),
    password_env: str | None = typer.Option(
        None, "--password-env", help="Env var with the keystore password."
    ),
    owner_key_env: list[str] = typer.Option(
        [], "--owner-key-env", help="Env vars with owner keys (dev)."
    ),
    salt: int = typer.Option(0, "--salt", help="CREATE2 salt nonce for the proxy."),
    policy: Path | None = typer.Option(
        None, "--policy", help="Policy template (default: the dev world's for this manifest)."
    ),
    policy_out: Path | None = typer.Option(
        None, "--policy-out", help="Where to write the bound policy (default: a temp file)."
    ),
    guardian: str | None = typer.Option(
        None, "--guardian", help="Address that may pause the module (besides the owners)."
    ),
    var: list[str] = typer.Option(
        [], "--var", help="Policy template variable NAME=VALUE, e.g. BRIDGE_RECIPIENT=0x..."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the decoded transactions; send nothing."
    ),
) -> None:
    """Deploy a Safe with the given owners and threshold, and a PolicyModule configured from a
    policy file, enabled in one owners' Safe transaction."""
    from agent.deploy.manifest import Manifest
    from agent.deploy.transactor import Transactor
    from agent.wallet.deploy import deploy_wallet
    from agent.wallet.safe_tx import check_owners

    def go():  # type: ignore[no-untyped-def]
        owners = check_owners(owner, threshold)  # bad input fails before any RPC or key use
        variables = {}
        for v in var:
            name, eq, value = v.partition("=")
            if not eq or not name:
                raise ValidationError("--var", f"{v!r} is not NAME=VALUE", "e.g. --var X=0x...")
            variables[name.strip()] = value.strip()
        if policy is not None and not policy.is_file():
            raise ValidationError("--policy", f"{policy} is not a file", "pass a policy TOML")
        m = Manifest.load(manifest)
        key = _key_from(key_env, keystore, password_env)
        owner_keys = [os.environ[e] for e in owner_key_env if os.environ.get(e)]
        tx = Transactor(rpc_url, key, dry_run=dry_run)
        if tx.chain_id != m.chain_id:
            raise ValidationError(
                "--rpc-url",
                f"chain id {tx.chain_id} but the manifest is for {m.chain_id}",
                "pass the matching manifest",
            )
        return tx, deploy_wallet(
            tx,
            m,
            owners=owners,
            threshold=threshold,
            operator=operator,
            owner_keys=owner_keys,
            salt=salt,
            policy_template=policy,
            policy_out=policy_out,
            guardian=guardian,
            policy_vars=variables,
        )

    tx, w = run(go)
    if dry_run:
        t = Table(title="Transactions that would be sent (dry run: nothing sent)")
        for col in ("#", "what", "to", "value", "calldata"):
            t.add_column(col)
        for i, p in enumerate(tx.planned, 1):
            data = "0x" + p.data.hex()
            t.add_row(
                str(i),
                p.description,
                p.to or "(create)",
                str(p.value),
                data[:74] + ("…" if len(data) > 74 else ""),
            )
        console.print(t)
        from agent.wallet.multisend import decode_multisend_calldata

        console.print("[bold]module configuration batch (decoded):[/]")
        for c in decode_multisend_calldata(w.config_tx.data):
            console.print(f"  call {c.to} selector 0x{c.data[:4].hex()} ({len(c.data)} bytes)")
        return
    console.print(f"safe     {w.safe}  ({w.threshold}-of-{len(w.owners)})")
    console.print(f"module   {w.module}  operator {w.operator}")
    console.print(f"policy   {w.policy_file}")
    if w.skipped:  # a rerun after an interrupted deploy: what it found done
        console.print(f"resumed: {', '.join(w.skipped)} existed already (skipped)")
    if w.executed:
        console.print(
            "PolicyModule enabled and configured from the policy (owner signatures collected)"
        )
    else:
        d = w.config_tx.describe()
        console.print(
            "[yellow]module NOT enabled yet[/]: the owners must sign this Safe transaction:"
        )
        for k, v in d.items():
            console.print(f"  {k}: {v if len(v) < 90 else v[:90] + '…'}")
