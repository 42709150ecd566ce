"""Balance snapshots of a Safe: every token and every option series it may touch."""

from __future__ import annotations

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.txengine.account import EngineAccount
from agent.venues.options import calldata


async def erc20(chain: EngineAccount, token: str, owner: str) -> int:
    return int(decode(["uint256"], await chain.call(token, calldata.erc20_balance_of(owner)))[0])


async def erc1155(chain: EngineAccount, market: str, owner: str, series_id: int) -> int:
    raw = await chain.call(market, calldata.balance_of_1155(owner, series_id))
    return int(decode(["uint256"], raw)[0])


async def short_of(chain: EngineAccount, market: str, owner: str, series_id: int) -> int:
    data = selector("shortOf(uint256,address)") + encode(["uint256", "address"], [series_id, owner])
    return int(decode(["uint256"], await chain.call(market, data))[0])


async def safe_nonce(chain: EngineAccount, safe: str) -> int:
    return int(decode(["uint256"], await chain.call(safe, selector("nonce()")))[0])


async def snapshot(chain: EngineAccount, manifest, safe: str, series_ids: list[int]) -> dict:
    market = manifest.address("OptionsMarket")
    out: dict = {}
    for sym in ("USDC", "WETH"):
        out[sym] = await erc20(chain, manifest.token(sym).address, safe)
    for sid in series_ids:
        out[f"long:{sid:#x}"] = await erc1155(chain, market, safe, sid)
        out[f"short:{sid:#x}"] = await short_of(chain, market, safe, sid)
    out["market_usdc"] = await erc20(chain, manifest.token("USDC").address, market)
    out["market_weth"] = await erc20(chain, manifest.token("WETH").address, market)
    return out
