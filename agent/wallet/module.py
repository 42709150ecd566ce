"""Calldata for the agent module (contracts/module/AgentModule.sol) and its allowlist."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector

from agent.deploy.manifest import Manifest
from agent.wallet.multisend import Call, pack

EXEC = selector("exec(address,uint256,bytes)")
EXEC_BATCH = selector("execBatch(bytes)")
SET_ALLOWED = selector("setAllowed(address,bytes4,bool)")

# Functions the walking skeleton needs. The small module checks target + selector only, so
# each entry here grants that function with ANY arguments (see AgentModule's NatSpec).
SKELETON_ALLOWLIST: tuple[tuple[str, str], ...] = (
    ("UniswapV2Router02", "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"),
    ("UniswapV2Router02", "swapTokensForExactTokens(uint256,uint256,address[],address,uint256)"),
    (
        "SwapRouter",
        "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))",
    ),
    (
        "SwapRouter",
        "exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))",
    ),
)
TOKEN_FUNCTIONS = ("approve(address,uint256)",)


def exec_calldata(target: str, data: bytes, value: int = 0) -> bytes:
    return EXEC + encode(["address", "uint256", "bytes"], [target, value, data])


def exec_batch_calldata(calls: list[Call] | tuple[Call, ...]) -> bytes:
    return EXEC_BATCH + encode(["bytes"], [pack(calls)])


def set_allowed_call(module: str, target: str, signature: str, allowed: bool = True) -> Call:
    data = SET_ALLOWED + encode(
        ["address", "bytes4", "bool"], [target, selector(signature), allowed]
    )
    return Call(module, data)


def skeleton_allowlist(manifest: Manifest) -> list[tuple[str, str]]:
    """(target address, function signature) pairs for the walking skeleton."""
    out = [(manifest.address(name), sig) for name, sig in SKELETON_ALLOWLIST]
    for t in manifest.tokens.values():
        out += [(t.address, sig) for sig in TOKEN_FUNCTIONS]
    return out
