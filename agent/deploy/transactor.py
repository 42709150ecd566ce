"""A small synchronous transactor for deployment tooling (world, wallets, scripts).

It signs locally with a private key and works against any RPC URL. It is deliberately simple
(one transaction at a time, synchronous, no journal) and is for deployment only: the agent's
own sends go through agent.chain.txengine. Nonces and fees come from the same code as the
TxEngine's: agent.chain.nonce.NonceManager (its pure fold of the chain's counts) and
agent.chain.fees (eth_feeHistory, the same multiplier, tip percentile and caps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from agent.chain.devnet import rpc_call
from agent.chain.fees import GWEI, FeeConfig, Fees, fees_from_history
from agent.chain.nonce import NonceManager
from agent.deploy.artifacts import load
from agent.errors import RpcError, TransactionFailedError


@dataclass(frozen=True, slots=True)
class PlannedTx:
    """A transaction described before it is sent (for --dry-run and logs)."""

    description: str
    to: str | None
    data: bytes
    value: int = 0


@dataclass
class Transactor:
    rpc_url: str
    key: str
    dry_run: bool = False
    planned: list[PlannedTx] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.account = Account.from_key(self.key)
        self.address: str = self.account.address
        self.w3 = Web3()  # ABI work only; RPC goes through rpc_call
        self.chain_id = int(rpc_call(self.rpc_url, "eth_chainId"), 16)
        self._tip = 10**9
        self.resync_nonce()

    def resync_nonce(self) -> None:
        """Re-read the chain's counts (after another sender used the key, or a devnet revert
        lowered them): a fresh NonceManager over them, as the TxEngine's sync builds."""
        self.nonces = NonceManager(None, self.address)
        latest, pending = (
            int(rpc_call(self.rpc_url, "eth_getTransactionCount", [self.address, tag]), 16)
            for tag in ("latest", "pending")
        )
        self.nonces.observe(latest, pending)

    @property
    def _nonce(self) -> int:
        """The nonce the next send takes (the manager's next, holes first)."""
        return self.nonces.next_nonce

    def _catch_up(self) -> None:
        """Resync when the chain's pending count is past ours: another sender (a second
        Transactor, the TxEngine) used the key since. Before a deploy only, whose address is
        computed from the nonce before sending; a plain send resyncs on "nonce too low"."""
        if self.dry_run:
            return
        pending = int(
            rpc_call(self.rpc_url, "eth_getTransactionCount", [self.address, "pending"]), 16
        )
        if pending > self._nonce:
            self.resync_nonce()

    def _used(self, nonce: int) -> None:
        self.nonces.seed(nonce + 1)
        self.nonces.observe_sent([nonce])

    # --- encoding ------------------------------------------------------------------------
    def contract(self, name: str, address: str | None = None) -> Contract:
        art = load(name)
        if address is None:
            return self.w3.eth.contract(abi=art.abi_list, bytecode=art.bytecode)
        return self.w3.eth.contract(address=to_checksum_address(address), abi=art.abi_list)

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc_call(self.rpc_url, method, list(params))

    def call(self, name: str, address: str, fn: str, *args: Any) -> Any:
        c = self.contract(name, address)
        f = c.get_function_by_name(fn)(*args)
        raw = self.rpc(
            "eth_call", {"to": c.address, "data": f._encode_transaction_data()}, "latest"
        )
        out = f.abi["outputs"]
        from eth_abi import decode

        types = [_abi_type(o) for o in out]
        vals = decode(types, bytes.fromhex(raw[2:]))
        return vals[0] if len(vals) == 1 else vals

    # --- sending -------------------------------------------------------------------------
    def deploy(self, name: str, *args: Any, description: str = "") -> str:
        c = self.contract(name)
        data = bytes.fromhex(c.constructor(*args).data_in_transaction[2:])
        self._catch_up()  # the address is the sender's next nonce's
        address = _create_address(self.address, self._nonce)
        self.send(None, data, description=description or f"deploy {name}")
        return address

    def transact(self, name: str, address: str, fn: str, *args: Any, value: int = 0) -> dict:
        c = self.contract(name, address)
        data = c.get_function_by_name(fn)(*args)._encode_transaction_data()
        return self.send(
            c.address, bytes.fromhex(data[2:]), value=value, description=f"{name}.{fn}"
        )

    def send(
        self, to: str | None, data: bytes, value: int = 0, description: str = ""
    ) -> dict[str, Any]:
        self.planned.append(PlannedTx(description, to, data, value))
        nonce = self._nonce
        self.nonces.check(nonce)
        if self.dry_run:
            self._used(nonce)
            return {}
        tx: dict[str, Any] = {
            "from": self.address,
            "data": "0x" + data.hex(),
            "value": hex(value),
        }
        if to is not None:
            tx["to"] = to
        gas = int(self.rpc("eth_estimateGas", tx), 16)
        fees = self.fees()

        def raw(n: int) -> str:
            signed = self.account.sign_transaction(
                {
                    "type": 2,
                    "chainId": self.chain_id,
                    "nonce": n,
                    "to": to_checksum_address(to) if to else "",
                    "value": value,
                    "data": data,
                    "gas": gas * 12 // 10 + 20_000,
                    "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
                    "maxFeePerGas": fees.max_fee_per_gas,
                }
            )
            return "0x" + signed.raw_transaction.hex()

        try:
            h = self.rpc("eth_sendRawTransaction", raw(nonce))
        except RpcError as e:
            if "nonce too low" not in str(e).lower():
                raise
            # the key was used by another sender since our counts (a shared dev key across
            # test modules): re-read them and send once more with the next free nonce
            self.resync_nonce()
            nonce = self._nonce
            h = self.rpc("eth_sendRawTransaction", raw(nonce))
        self._used(nonce)
        receipt = self.wait(h)
        if int(receipt["status"], 16) != 1:
            raise TransactionFailedError(f"{description or 'transaction'} reverted: {h}")
        return receipt

    def fees(self) -> Fees:
        """EIP-1559 fees as the TxEngine estimates them (agent.chain.fees: eth_feeHistory, the
        same multiplier, tip percentile and caps), with at least this transactor's tip."""
        cfg = FeeConfig(min_priority_fee=self._tip, max_priority_fee_cap=max(self._tip, 5 * GWEI))
        hist = self.rpc(
            "eth_feeHistory", hex(cfg.history_blocks), "latest", [cfg.reward_percentile]
        )
        return fees_from_history(hist, cfg)

    def wait(self, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
        import time

        deadline = time.monotonic() + timeout
        while True:
            r = self.rpc("eth_getTransactionReceipt", tx_hash)
            if r is not None:
                return r
            if time.monotonic() > deadline:
                raise TransactionFailedError(f"no receipt for {tx_hash} after {timeout}s")
            time.sleep(0.01)  # polling the node for a receipt (instant on automining devnets)


def _abi_type(o: dict[str, Any]) -> str:
    t = o["type"]
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in o["components"])
        return f"({inner}){t[5:]}"
    return t


def _create_address(sender: str, nonce: int) -> str:
    import rlp
    from eth_utils import keccak

    raw = keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]
    return to_checksum_address(raw)
