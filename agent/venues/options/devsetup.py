"""Devnet helpers: fund and approve a market maker, fund a Safe, list the series of a
strategy. Tooling only (synchronous, deployer key); never on the trading path."""

from __future__ import annotations

from decimal import Decimal

from eth_abi import decode, encode
from eth_account import Account
from web3 import Web3

from agent.deploy.manifest import Manifest
from agent.deploy.transactor import Transactor
from agent.strategies.legs import Strategy
from agent.venues.options import calldata
from agent.venues.options.deploy import create_series
from agent.venues.options.series import SeriesTerms, terms_for

MAX_UINT = 2**256 - 1


def _sel(sig: str) -> bytes:
    return Web3.keccak(text=sig)[:4]


def fund(tx: Transactor, manifest: Manifest, to: str, amounts: dict[str, Decimal]) -> None:
    """Mint dev tokens / wrap ETH into WETH and send them to ``to`` (deployer is the minter)."""
    for sym, amt in amounts.items():
        t = manifest.token(sym)
        units = int(amt.scaleb(t.decimals))
        if sym.upper() == "WETH":
            tx.rpc("anvil_setBalance", tx.address, hex(10**30))
            tx.send(t.address, _sel("deposit()"), value=units, description="WETH9.deposit")
            data = _sel("transfer(address,uint256)") + encode(["address", "uint256"], [to, units])
            tx.send(t.address, data, description="WETH9.transfer")
        else:
            data = _sel("mint(address,uint256)") + encode(["address", "uint256"], [to, units])
            tx.send(t.address, data, description=f"{sym}.mint")


def setup_maker(
    rpc_url: str, deployer_key: str, maker_key: str, manifest: Manifest, amounts: dict[str, Decimal]
) -> str:
    """Fund the market maker and approve the market for its tokens; returns its address."""
    maker = Account.from_key(maker_key).address
    fund(Transactor(rpc_url, deployer_key), manifest, maker, amounts)
    mtx = Transactor(rpc_url, maker_key)
    market = manifest.address("OptionsMarket")
    for sym in amounts:
        mtx.send(
            manifest.token(sym).address, calldata.approve(market, MAX_UINT), description="approve"
        )
    return maker


def list_strategy_series(
    rpc_url: str, deployer_key: str, manifest: Manifest, strategy: Strategy
) -> list[SeriesTerms]:
    """Create every series a strategy's legs need (idempotent)."""
    tx = Transactor(rpc_url, deployer_key)
    market = manifest.address("OptionsMarket")
    feed = manifest.address(f"PriceFeed{strategy.underlying}")
    out = []
    for leg in strategy.legs:
        t = terms_for(leg.option, manifest, feed=feed)
        create_series(tx, market, t)
        out.append(t)
    return out


def erc20_balance(tx: Transactor, token: str, owner: str) -> int:
    raw = tx.rpc(
        "eth_call", {"to": token, "data": "0x" + calldata.erc20_balance_of(owner).hex()}, "latest"
    )
    return int(decode(["uint256"], bytes.fromhex(raw[2:]))[0])
