"""``halt --onchain``: the guardian pauses the PolicyModule on every chain with a wallet.

The pause goes through the TxEngine like every send (write-ahead TxSigned in the same journal
the halt was written to, so the audit trail has both), is simulated first (eth_estimateGas:
a module whose guardian is not this key reverts there and nothing is signed), and is read
back (``paused()``) after mining. Unpausing is the owners' (a Safe transaction), never ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import function_signature_to_4byte_selector as fsel
from eth_utils import to_checksum_address

from agent.errors import AgentError, RpcError

PAUSE = fsel("pause()")
PAUSED = fsel("paused()")


class PauseFailedError(AgentError):
    code = "MODULE_PAUSE_FAILED"


@dataclass(frozen=True, slots=True)
class PauseTarget:
    chain: str
    rpc_url: str
    chain_id: int
    module: str


async def _is_paused(rpc: Any, module: str) -> bool:
    raw = await rpc.call("eth_call", [{"to": module, "data": "0x" + PAUSED.hex()}, "latest"])
    return int(raw, 16) != 0


async def pause_modules(
    targets: list[PauseTarget], guardian_key: str, journal: Any
) -> list[dict[str, Any]]:
    """Pause every target's module; one result per chain (``tx_hash`` "" if it already was)."""
    from agent.chain.rpc import RpcClient
    from agent.chain.txengine import EngineConfig, TxEngine, TxSpec
    from agent.oms.tx import TxState
    from agent.signing.local import LocalSigner

    signer = LocalSigner(guardian_key)
    out = []
    for t in targets:
        module = to_checksum_address(t.module)
        async with RpcClient(t.rpc_url, expected_chain_id=t.chain_id, name=t.chain) as rpc:
            if await _is_paused(rpc, module):
                out.append({"chain": t.chain, "module": module, "tx_hash": "", "paused": True})
                continue
            est = {"from": signer.address, "to": module, "data": "0x" + PAUSE.hex()}
            try:
                gas = int(await rpc.call("eth_estimateGas", [est]), 16)
            except RpcError as e:
                raise PauseFailedError(
                    f"{t.chain}: the module {module} refuses pause() from {signer.address} "
                    f"({e.message}); is that key its guardian (or an owner)?"
                ) from None
            eng = TxEngine(rpc, signer, journal, EngineConfig(chain_id=t.chain_id, confirmations=1))
            await eng.start()
            res = await eng.send(TxSpec(module, data=PAUSE, gas=gas + gas // 5))
            rec = await eng.wait_for(res.tx_hash, {TxState.MINED, TxState.CONFIRMED}, timeout=120)
            if rec.success is False or not await _is_paused(rpc, module):
                raise PauseFailedError(f"{t.chain}: pause() {rec.tx_hash} did not pause {module}")
            out.append({"chain": t.chain, "module": module, "tx_hash": rec.tx_hash, "paused": True})
    return out


def targets_of(config: Any) -> list[PauseTarget]:
    return [
        PauseTarget(name, config.chains[name].rpc_url, config.chains[name].chain_id, w.module)
        for name, w in config.wallets.items()
    ]


def guardian_key(config: Any) -> str:
    """The guardian key of the config's wallets (one key for every chain: the env var of the
    first wallet that names one)."""
    from agent.errors import ConfigError

    for name, w in config.wallets.items():
        if w.guardian_key_env:
            return config.secret(w.guardian_key_env, f"wallets.{name}.guardian_key_env")
    raise ConfigError(
        "wallets.*.guardian_key_env", "no guardian key configured: --onchain cannot pause",
        'add guardian_key_env = "AGENT_GUARDIAN_KEY" to a [wallets.<chain>] table',
    )  # fmt: skip
