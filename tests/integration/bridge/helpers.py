"""Small helpers shared by the bridge integration tests (EOA deposits, balances, mining)."""

from __future__ import annotations

from agent.bridge.messages import Deposit
from agent.deploy.devworld import DEPLOYER_KEY, address_of

ALICE_KEY = "0x" + "a1" * 32  # not a relayer, not an owner: a plain bridge user
ALICE = address_of(ALICE_KEY)


def fund_eth(bw, chain: str, who: str) -> None:
    bw.tx(chain).rpc("anvil_setBalance", who, hex(10**20))


def eoa_deposit(bw, amount: int, recipient: str = ALICE) -> Deposit:
    """Alice bridges ``amount`` USDC base units from L1 to ``recipient`` on L2 (no Safe)."""
    fund_eth(bw, "l1", ALICE)
    usdc = bw.l1.token("USDC").address
    escrow = bw.l1.address("BridgeEscrow")
    bw.tx("l1", DEPLOYER_KEY).transact("DevToken", usdc, "mint", ALICE, amount)
    alice = bw.tx("l1", ALICE_KEY)
    alice.transact("DevToken", usdc, "approve", escrow, amount)
    nonce = alice.call("BridgeEscrow", escrow, "depositNonce")
    alice.transact("BridgeEscrow", escrow, "deposit", usdc, recipient, amount)
    fee = alice.call("BridgeEscrow", escrow, "feeFor", amount)
    return Deposit(bw.l1.chain_id, escrow, usdc, ALICE, recipient, amount - fee, nonce)


def l2_balance(bw, who: str) -> int:
    return bw.tx("l2").call("BridgedToken", bw.l2.address("BridgedUSDC"), "balanceOf", who)


def l1_usdc(bw, who: str) -> int:
    return bw.tx("l1").call("DevToken", bw.l1.token("USDC").address, "balanceOf", who)


def mine(bw, chain: str, blocks: int = 1) -> None:
    bw.tx(chain).rpc("anvil_mine", hex(blocks))
