"""The L2 is read in the names of what the bridge delivers there."""

from agent.deploy.manifest import Manifest, TokenInfo
from agent.model import Spot
from agent.routing.service import l2_instrument


def _l2(*symbols: str) -> Manifest:
    return Manifest(2, "l2", 1, tokens={s: TokenInfo(s, "0x" + "11" * 20, 18) for s in symbols})


def test_bridged_names_when_listed_else_the_same_and_explicit_wins() -> None:
    inst = Spot("WETH", "USDC")
    assert l2_instrument(inst, _l2("WETH", "USDC")) == inst
    assert l2_instrument(inst, _l2("WETH", "USDC", "WETH.B", "USDC.B")) == Spot("WETH.B", "USDC.B")
    assert l2_instrument(inst, _l2("WETH", "USDC.B")) == Spot("WETH", "USDC.B")
    got = l2_instrument(inst, _l2("WETH.B", "USDC.B"), [("USDC", "USDX")])
    assert got == Spot("WETH.B", "USDX")
