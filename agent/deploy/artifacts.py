"""Compiled contracts by name, from the npm packages' real artifacts and our own forge build.

Nothing is re-implemented: Uniswap and Safe bytecode come byte-for-byte from their published
npm packages (DESIGN.md lists them); our own contracts come from ``out/`` (forge build).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from agent.chain.toolchain import REPO_ROOT
from agent.errors import ArtifactError

NM = REPO_ROOT / "node_modules"
_SAFE = "@safe-global/safe-contracts/build/artifacts/contracts"
_V3C = "@uniswap/v3-core/artifacts/contracts"
_V3P = "@uniswap/v3-periphery/artifacts/contracts"

# name -> path under node_modules
NPM_ARTIFACTS: dict[str, str] = {
    "WETH9": "@uniswap/v2-periphery/build/WETH9.json",
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "UniswapV3Factory": f"{_V3C}/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": f"{_V3C}/UniswapV3Pool.sol/UniswapV3Pool.json",
    "SwapRouter": f"{_V3P}/SwapRouter.sol/SwapRouter.json",
    "QuoterV2": f"{_V3P}/lens/QuoterV2.sol/QuoterV2.json",
    "NonfungiblePositionManager": f"{_V3P}/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
    "Safe": f"{_SAFE}/Safe.sol/Safe.json",
    "SafeL2": f"{_SAFE}/SafeL2.sol/SafeL2.json",
    "SafeProxyFactory": f"{_SAFE}/proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    "SafeProxy": f"{_SAFE}/proxies/SafeProxy.sol/SafeProxy.json",
    "MultiSendCallOnly": f"{_SAFE}/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
    "CompatibilityFallbackHandler": (
        f"{_SAFE}/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"
    ),
    "ERC20": "@openzeppelin/contracts/build/contracts/ERC20.json",
}

OUT_DIR = REPO_ROOT / "out"


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    source: str

    @property
    def abi_list(self) -> list[dict[str, Any]]:
        return list(self.abi)


def _bytecode(d: dict[str, Any]) -> str:
    b = d.get("bytecode")
    if isinstance(b, dict):  # forge: {"object": "0x..."}
        b = b.get("object")
    if not b:
        b = d.get("evm", {}).get("bytecode", {}).get("object", "")
    return b or ""


def _our_artifact_path(name: str) -> Path | None:
    direct = OUT_DIR / f"{name}.sol" / f"{name}.json"
    if direct.exists():
        return direct
    hits = sorted(OUT_DIR.glob(f"*/{name}.json"))
    return hits[0] if hits else None


@cache
def load(name: str) -> Artifact:
    """Artifact by contract name: npm packages first, then our forge build in out/."""
    if name in NPM_ARTIFACTS:
        path = NM / NPM_ARTIFACTS[name]
        if not path.exists():
            raise ArtifactError(f"artifact {name} missing at {path}: run scripts/setup (npm ci)")
    else:
        found = _our_artifact_path(name)
        if found is None:
            raise ArtifactError(
                f"artifact {name} not in out/: run scripts/setup (it runs forge build)"
            )
        path = found
    d = json.loads(path.read_text())
    code = _bytecode(d)
    if code and not code.startswith("0x"):
        code = "0x" + code
    if "__" in code:
        raise ArtifactError(f"artifact {name} needs library linking, which we do not do")
    return Artifact(
        name=name,
        abi=tuple(d["abi"]),
        bytecode=bytes.fromhex(code[2:]) if code else b"",
        source=str(path.relative_to(REPO_ROOT)),
    )
