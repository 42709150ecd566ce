"""Every transaction the agent sends goes through agent.chain.txengine: no other module
under agent/ broadcasts (eth_sendRawTransaction as a string or RpcClient.send_raw_transaction
called). Read from the source with ast, so a docstring that names the method does not count
and a call spelled either way does.

Allowed, and why:
  * agent/chain/txengine/: the engine itself;
  * agent/chain/rpc.py: defines RpcClient.send_raw_transaction (the engine's transport);
  * agent/deploy/transactor.py: the synchronous deployment path (world set-up, wallet and
    policy deployment by the deployer or owners); its nonces and fees come from
    agent.chain.nonce and agent.chain.fees (test_transactor_takes_shared_nonces_and_fees).
"""

from __future__ import annotations

import ast
from pathlib import Path

import agent

ROOT = Path(agent.__file__).parent
ALLOWED = {"chain/rpc.py", "deploy/transactor.py"}
ALLOWED_DIRS = ("chain/txengine/",)
# eth_sendTransaction: a node-held key signs (anvil's unlocked accounts): also a send
SEND_METHODS = ("eth_sendRawTransaction", "eth_sendTransaction")


def _sends(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and node.value in SEND_METHODS) or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("send_raw_transaction", "sendRawTransaction")
        ):
            lines.append(node.lineno)
    return lines


def _offenders() -> dict[str, list[int]]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED or rel.startswith(ALLOWED_DIRS):
            continue
        found = _sends(ast.parse(path.read_text(), rel))
        if found:
            out[rel] = found
    return out


def test_only_the_txengine_broadcasts():
    assert _offenders() == {}


def test_the_check_sees_both_spellings():
    src = (
        'await rpc.send_raw_transaction(raw)\nrpc.call("eth_sendRawTransaction", [x])\n'
        '"""eth_sendRawTransaction docs"""\nrpc_call(url, "eth_sendTransaction", [tx])\n'
    )
    assert sorted(_sends(ast.parse(src))) == [1, 2, 4]


def test_the_engine_does_broadcast():
    # the allow-list is not hiding an empty search: the engine's own sends are found
    engine = ROOT / "chain" / "txengine" / "engine.py"
    assert _sends(ast.parse(engine.read_text()))


def test_removed_senders_are_gone():
    assert not (ROOT / "venues" / "options" / "chain.py").exists()
    chainio = ast.parse((ROOT / "bridge" / "chainio.py").read_text())
    names = {n.attr for n in ast.walk(chainio) if isinstance(n, ast.Attribute)}
    assert not names & {"sign_transaction", "get_transaction_receipt", "reserve"}


def test_transactor_takes_shared_nonces_and_fees():
    tree = ast.parse((ROOT / "deploy" / "transactor.py").read_text())
    imported = {
        (n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    assert ("agent.chain.nonce", "NonceManager") in imported
    assert ("agent.chain.fees", "fees_from_history") in imported
