"""Per-chain deployment manifest: chain id, block, name -> address, tokens with decimals.

The agent resolves every contract and token by name through this file, never by a
hard-coded address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigError, UnknownAssetError
from agent.model import Asset


@dataclass(frozen=True, slots=True)
class TokenInfo:
    symbol: str
    address: str
    decimals: int


@dataclass(frozen=True)
class Manifest:
    chain_id: int
    name: str
    block: int
    contracts: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, TokenInfo] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise ConfigError(
                f"manifest[{self.name}].contracts",
                f"no contract named {name!r}",
                f"known: {', '.join(sorted(self.contracts))}",
            ) from None

    def token(self, symbol: str) -> TokenInfo:
        t = self.tokens.get(symbol.upper())
        if t is None:
            raise UnknownAssetError(
                "token",
                f"unknown token {symbol!r} on {self.name}",
                f"use one of {', '.join(sorted(self.tokens))}",
            )
        return t

    def asset(self, symbol: str) -> Asset:
        t = self.token(symbol)
        return Asset(t.symbol, t.decimals, self.chain_id, t.address)

    def with_contracts(self, **extra: str) -> Manifest:
        return Manifest(
            self.chain_id,
            self.name,
            self.block,
            {**self.contracts, **extra},
            self.tokens,
            self.pools,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "name": self.name,
            "block": self.block,
            "contracts": dict(sorted(self.contracts.items())),
            "tokens": {
                s: {"address": t.address, "decimals": t.decimals}
                for s, t in sorted(self.tokens.items())
            },
            "pools": dict(sorted(self.pools.items())),
        }

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Manifest:
        try:
            return cls(
                chain_id=int(d["chain_id"]),
                name=str(d["name"]),
                block=int(d["block"]),
                contracts=dict(d.get("contracts", {})),
                tokens={
                    s: TokenInfo(s, v["address"], int(v["decimals"]))
                    for s, v in d.get("tokens", {}).items()
                },
                pools=dict(d.get("pools", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError("manifest", f"malformed: {e}", "re-run the deployment") from e

    @classmethod
    def load(cls, path: Path | str) -> Manifest:
        p = Path(path)
        if not p.exists():
            raise ConfigError(
                "manifest", f"{p} does not exist", "run `agent devnet up` or scripts/demo first"
            )
        if not p.is_file():
            raise ConfigError(
                "manifest", f"{p} is a directory, not a manifest", "name the .json file"
            )
        try:
            return cls.from_json(json.loads(p.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError("manifest", f"{p} is not JSON: {e}") from e
