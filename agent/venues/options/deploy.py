"""Deploy the options market and its dev price feeds; list series.

``deploy_options(rpc_url, deployer_key, manifest)`` is what the world deployment and the demo
call; it returns {name: address} for ``manifest.with_contracts(**names)``:
  OptionsMarket, PriceFeedWETH, PriceFeedWBTC (AggregatorV3-compatible dev feeds, 8 decimals,
  owned by the deployer, seeded at the world's prices).
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache

from eth_abi import decode, encode
from eth_utils import to_checksum_address
from web3 import Web3

from agent.chain.toolchain import REPO_ROOT
from agent.deploy.artifacts import Artifact, load
from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.errors import ArtifactError
from agent.venues.options import calldata
from agent.venues.options.series import SeriesTerms

FEED_DECIMALS = 8
DEFAULT_SPOTS: dict[str, Decimal] = {"WETH": Decimal(3000), "WBTC": Decimal(90_000)}
MAX_FEED_AGE_S = 3600


@cache
def artifact(name: str) -> Artifact:
    """Our compiled contract: the shared forge build (out/), else this area's own build
    (out-options/, from ``forge build`` with FOUNDRY_OUT=out-options)."""
    try:
        return load(name)
    except ArtifactError:
        path = REPO_ROOT / "out-options" / f"{name}.sol" / f"{name}.json"
        if not path.exists():
            raise
        d = json.loads(path.read_text())
        code = d["bytecode"]["object"]
        return Artifact(name, tuple(d["abi"]), bytes.fromhex(code.removeprefix("0x")), str(path))


def _deploy(tx: Transactor, name: str, types: list[str], args: list) -> str:
    art = artifact(name)
    receipt = tx.send(None, art.bytecode + encode(types, args), description=f"deploy {name}")
    return to_checksum_address(receipt["contractAddress"])


def deploy_options(
    rpc_url: str,
    deployer_key: str,
    manifest: Manifest,
    *,
    spots: dict[str, Decimal] | None = None,
    max_feed_age_s: int = MAX_FEED_AGE_S,
) -> dict[str, str]:
    tx = Transactor(rpc_url, deployer_key)
    out: dict[str, str] = {}
    me = tx.address
    for sym, px in (spots or DEFAULT_SPOTS).items():
        if sym not in manifest.tokens:
            continue
        answer = int(px.scaleb(FEED_DECIMALS))
        out[f"PriceFeed{sym}"] = _deploy(
            tx, "DevPriceFeed", ["uint8", "string", "int256", "address"],
            [FEED_DECIMALS, f"{sym} / USD", answer, me],
        )  # fmt: skip
    out["OptionsMarket"] = _deploy(tx, "OptionsMarket", ["uint256"], [max_feed_age_s])
    return out


def create_series(tx: Transactor, market: str, terms: SeriesTerms) -> int:
    """List ``terms`` on the market unless it already is; returns the series id."""
    if not series_exists(tx, market, terms.series_id):
        tx.send(market, calldata.create_series(terms), description="OptionsMarket.createSeries")
    return terms.series_id


def series_exists(tx: Transactor, market: str, series_id: int) -> bool:
    data = Web3.keccak(text="collateralFor(uint256,uint256)")[:4] + encode(
        ["uint256", "uint256"], [series_id, 0]
    )
    try:
        tx.rpc("eth_call", {"to": market, "data": "0x" + data.hex()}, "latest")
    except Exception:  # UnknownSeries reverts
        return False
    return True


def push_price(tx: Transactor, feed: str, price: Decimal, updated_at: int | None = None) -> None:
    answer = int(price.scaleb(FEED_DECIMALS))
    if updated_at is None:
        sel, args, types = "pushAnswer(int256)", [answer], ["int256"]
    else:
        sel, args, types = (
            "pushAnswerAt(int256,uint256)",
            [answer, updated_at],
            ["int256", "uint256"],
        )
    data = Web3.keccak(text=sel)[:4] + encode(types, args)
    tx.send(feed, data, description=f"DevPriceFeed.{sel}")


def read_feed(tx: Transactor, feed: str) -> Decimal:
    sel = Web3.keccak(text="latestRoundData()")[:4]
    raw = tx.rpc("eth_call", {"to": feed, "data": "0x" + sel.hex()}, "latest")
    _rid, answer, _s, _u, _a = decode(
        ["uint80", "int256", "uint256", "uint256", "uint80"], bytes.fromhex(raw[2:])
    )
    return Decimal(answer).scaleb(-FEED_DECIMALS)
