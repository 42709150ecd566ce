"""sign.eip1559: our EIP-1559 signing path vs a bare coincurve signature of a 32-byte hash.

Baseline (same run, interleaved rounds): ``coincurve.sign_recoverable`` of a precomputed
digest, the irreducible cost of one secp256k1 signature. Goal: ratio <= 2. For reference,
``sign.eth_account`` times eth-account's ``Account.sign_transaction`` on the same tx.
"""

from __future__ import annotations

import os

import coincurve
from eth_account import Account

from agent.signing import LocalSigner, TxRequest, check_fast_backend
from bench.common import latency_metric, sample_us

KEY = "0x" + "4c" * 32
ROUNDS = 5
N = 4000


def run() -> list[dict]:
    check_fast_backend()
    signer = LocalSigner(KEY)
    # an ERC-20 transfer: the typical hot-path payload (68 bytes of calldata)
    tx = TxRequest(
        chain_id=31_337_001,
        nonce=1234,
        to="0x" + "a0" * 20,
        value=0,
        data=bytes.fromhex("a9059cbb") + b"\x00" * 12 + b"\x11" * 20 + (10**18).to_bytes(32, "big"),
        gas=65_000,
        max_fee_per_gas=42 * 10**9,
        max_priority_fee_per_gas=2 * 10**9,
    )
    key = coincurve.PrivateKey(bytes.fromhex(KEY[2:]))
    digest = os.urandom(32)
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(ROUNDS):  # interleaved so machine noise hits both alike
        ours += sample_us(lambda: signer.sign_transaction_sync(tx), N)
        bare += sample_us(lambda: key.sign_recoverable(digest, hasher=None), N)
    d = {
        "type": 2, "chainId": tx.chain_id, "nonce": tx.nonce, "to": Account.from_key(KEY).address,
        "value": 0, "data": tx.data, "gas": tx.gas, "maxFeePerGas": tx.max_fee_per_gas,
        "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
    }  # fmt: skip
    acct = Account.from_key(KEY)
    ref = sample_us(lambda: acct.sign_transaction(d), 400, warmup=20)
    bare_ref = sample_us(lambda: key.sign_recoverable(digest, hasher=None), 400, warmup=20)
    return [
        latency_metric(
            "sign.eip1559", ours, baseline=("coincurve.sign_recoverable_32B", bare), goal_ratio=2
        ),
        latency_metric(
            "sign.eth_account",
            ref,
            baseline=("coincurve.sign_recoverable_32B", bare_ref),
            reference=True,
        ),
    ]
