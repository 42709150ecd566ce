"""Where the router's legs come from: every pool a chain's manifest lists for the pair, every
connected CEX book, and the L2's pools behind the bridge, each read at one pin.

Per chain the pin is one block (all its pools are read at that block). A venue that cannot be
read, or whose book is stale, is left out with the reason (``excluded``); a venue whose curve
disagrees with its own on-chain quote at the same block stops everything
(:class:`agent.errors.QuoteMismatchError`): a plan on a wrong curve is worse than no plan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from eth_utils import function_signature_to_4byte_selector as selector

from agent.chain.rpc import RpcClient
from agent.deploy.manifest import Manifest
from agent.errors import AgentError, QuoteMismatchError, ValidationError, VenueError
from agent.model import Side, Spot
from agent.routing.curves import BridgedCurve, Leg, LiquidityCurve
from agent.routing.gas import HOLDER, GasMeter
from agent.routing.plan import LegKind
from agent.signing.abi import encode
from agent.venues.bridge.cost import BridgeCostModel, BridgeDirection
from agent.venues.uniswap_common import pools_for
from agent.venues.uniswap_v2 import GET_AMOUNTS_IN, GET_AMOUNTS_OUT, UniswapV2Venue
from agent.venues.uniswap_v2 import SWAP_EXACT_IN as V2_EXACT_IN
from agent.venues.uniswap_v2 import SWAP_EXACT_OUT as V2_EXACT_OUT
from agent.venues.uniswap_v3 import EXACT_IN, EXACT_OUT, PARAMS, UniswapV3Venue

DEADLINE = 2**48
GET_PAIR = selector("getPair(address,address)")
NATIVE = "WETH"  # the wrapped native coin gas is priced in, by manifest symbol


@dataclass
class ChainSource:
    """One chain's pools. For the L2, ``bridge`` prices the hop from L1 and
    ``l1_gas_quote`` is the deposit's gas on L1 (quote units)."""

    rpc: RpcClient
    manifest: Manifest
    l2: bool = False
    bridge: BridgeCostModel | None = None
    time_bps_per_min: Decimal = Decimal(0)
    meter: GasMeter | None = None
    l1_deposit_gas_quote: int = 0

    def __post_init__(self) -> None:
        if self.meter is None:
            self.meter = GasMeter(self.rpc)
        if self.l2 and self.bridge is None:
            raise ValidationError("bridge", "an L2 source needs the bridge's cost model")


@dataclass
class CexSource:
    venue: Any  # agent.venues.cex.CexVenue
    symbol: str | None = None  # the venue's symbol for the pair (default: the same symbols)
    max_age_ms: int = 5_000


@dataclass
class Gathered:
    legs: list[Leg] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)
    pins: dict[str, str] = field(default_factory=dict)  # chain name -> pin


def wanted(venue_id: str, only: Sequence[str] | None) -> bool:
    """``--venues`` filter: a leg takes part if any given token is part of its id."""
    return not only or any(tok.lower() in venue_id.lower() for tok in only)


def time_bps(bridge: BridgeCostModel, per_min: Decimal) -> Fraction:
    eta, _ = bridge.eta(BridgeDirection.DEPOSIT)
    return Fraction(per_min) * Fraction(eta) / 60


async def native_in_quote(
    src: ChainSource, quote: str, block: int, first: LiquidityCurve | None, base: str
) -> Fraction:
    """Quote base units per wei: the pair's own mid when the base is the native coin, else
    the native/quote pair's mid on the same chain (0 when the chain has none)."""
    if base.upper() == NATIVE and first is not None:
        return Fraction(first.marginal(0.0))
    inst = Spot(NATIVE, quote)
    for _key, addr in pools_for(src.manifest, "v2", NATIVE, quote):
        c = await UniswapV2Venue(src.rpc, src.manifest).curve(inst, Side.BUY, block, pair=addr)
        return Fraction(c.marginal(0.0))
    for _key, addr in pools_for(src.manifest, "v3", NATIVE, quote):
        v3 = UniswapV3Venue(src.rpc, src.manifest)
        c = await v3.curve(inst, Side.BUY, block, pool=addr)
        return Fraction(c.marginal(0.0))
    return Fraction(0)


def check_quote(
    venue_id: str,
    curve: LiquidityCurve,
    probe: int,
    quoted: int | tuple[int, ...] | None,
    block: int,
    source: str,
) -> None:
    """Stop (QuoteMismatchError) unless the venue's own on-chain quote for ``probe`` base units
    at ``block`` equals the curve's exact cost: a plan on a wrong curve is never made."""
    got = quoted[0] if isinstance(quoted, tuple) else quoted
    expect = curve.cost(probe)
    if got != expect:
        raise QuoteMismatchError(
            f"{venue_id}: the curve says {expect} quote units for {probe} base units at block "
            f"{block}, {source} says {got}; not planning on it (re-read the venue)"
        )


def _probe(size: int, curve: LiquidityCurve) -> int:
    """A representative leg size for the quote check and the gas measurement."""
    p = min(size, curve.capacity // 2)
    return p - p % curve.lot


async def _v3_leg(
    src: ChainSource, inst: Spot, side: Side, size: int, block: int, key: str, pool: str
) -> tuple[Leg, LiquidityCurve] | None:
    m = src.manifest
    v3 = UniswapV3Venue(src.rpc, m)
    curve = await v3.curve(inst, side, block, pool=pool)
    fee = curve.pool.state.fee  # type: ignore[attr-defined]
    vid = f"uniswap_v3@{m.name}:{pool.lower()}"
    probe = _probe(size, curve)
    base, quote = m.token(inst.base), m.token(inst.quote)
    t_in, t_out = (quote, base) if side is Side.BUY else (base, quote)
    gas_units = 0
    if probe > 0:
        expect = curve.cost(probe)
        got = await v3.quoter_amount(inst, side, probe, fee, block)
        check_quote(vid, curve, probe, got, block, "QuoterV2")
        router = m.address("SwapRouter")
        if side is Side.BUY:
            params = (t_in.address, t_out.address, fee, HOLDER, DEADLINE, probe, expect, 0)
            data, amount_in = EXACT_OUT + encode([PARAMS], [params]), expect
        else:
            params = (t_in.address, t_out.address, fee, HOLDER, DEADLINE, probe, 0, 0)
            data, amount_in = EXACT_IN + encode([PARAMS], [params]), probe
        assert src.meter is not None
        gas_units = await src.meter.leg_units(
            vid, token_in=t_in.address, spender=router, amount_in=amount_in,
            swap_to=router, swap_data=data, block=block,
        )  # fmt: skip
    ref = {"protocol": "v3", "pool": pool, "fee": fee, "token_in": t_in.address,
           "token_out": t_out.address, "router": m.address("SwapRouter"), "key": key,
           "gas_units": gas_units}  # fmt: skip
    leg = Leg(vid, LegKind.AMM, m.chain_id, curve, 0, f"block:{block}", venue_ref=ref)
    return leg, curve


async def _v2_leg(
    src: ChainSource, inst: Spot, side: Side, size: int, block: int, key: str, pair: str
) -> tuple[Leg, LiquidityCurve] | None:
    m = src.manifest
    v2 = UniswapV2Venue(src.rpc, m)
    curve = await v2.curve(inst, side, block, pair=pair)
    vid = f"uniswap_v2@{m.name}:{pair.lower()}"
    base, quote = m.token(inst.base), m.token(inst.quote)
    t_in, t_out = (quote, base) if side is Side.BUY else (base, quote)
    probe = _probe(size, curve)
    gas_units = 0
    router = m.address("UniswapV2Router02")
    # Router02 swaps through its factory's pair only: a listed pair it would not use is not a
    # venue we can execute on (left out, with the reason)
    raw_pair = await src.rpc.call(
        "eth_call",
        [{"to": m.address("UniswapV2Factory"),
          "data": "0x" + (GET_PAIR + encode(["address", "address"], [t_in.address, t_out.address])).hex()},
         hex(block)],
    )  # fmt: skip
    if int(raw_pair, 16) != int(pair, 16):
        raise VenueError(f"{vid}: Router02's factory does not trade this pair; no route to it")
    if probe > 0:
        # check the curve against the router's own quote at the same block
        path = [t_in.address, t_out.address]
        sel = GET_AMOUNTS_IN if side is Side.BUY else GET_AMOUNTS_OUT
        raw = await src.rpc.call(
            "eth_call",
            [
                {
                    "to": router,
                    "data": "0x" + (sel + encode(["uint256", "address[]"], [probe, path])).hex(),
                },
                hex(block),
            ],
        )
        words = bytes.fromhex(raw[2:])
        amounts = [int.from_bytes(words[i : i + 32], "big") for i in range(64, len(words), 32)]
        quoted = amounts[0] if side is Side.BUY else amounts[-1]
        check_quote(vid, curve, probe, quoted, block, "Router02")
        expect = quoted
        args = ["uint256", "uint256", "address[]", "address", "uint256"]
        if side is Side.BUY:
            data, amount_in = (
                V2_EXACT_OUT + encode(args, [probe, expect, path, HOLDER, DEADLINE]),
                expect,
            )
        else:
            data, amount_in = V2_EXACT_IN + encode(args, [probe, 0, path, HOLDER, DEADLINE]), probe
        assert src.meter is not None
        gas_units = await src.meter.leg_units(
            vid, token_in=t_in.address, spender=router, amount_in=amount_in,
            swap_to=router, swap_data=data, block=block,
        )  # fmt: skip
    ref = {"protocol": "v2", "pool": pair, "token_in": t_in.address, "token_out": t_out.address,
           "router": router, "key": key, "gas_units": gas_units}  # fmt: skip
    leg = Leg(vid, LegKind.AMM, m.chain_id, curve, 0, f"block:{block}", venue_ref=ref)
    return leg, curve


async def _chain_legs(
    src: ChainSource, inst: Spot, side: Side, size: int, only: Sequence[str] | None, out: Gathered
) -> None:
    m = src.manifest
    try:
        block = await src.rpc.block_number()
    except AgentError as e:
        out.excluded.append((f"uniswap@{m.name}", f"chain unreachable: {e}"))
        return
    out.pins[m.name] = f"block:{block}"
    jobs = [("v3", k, a) for k, a in pools_for(m, "v3", inst.base, inst.quote)]
    jobs += [("v2", k, a) for k, a in pools_for(m, "v2", inst.base, inst.quote)]
    built: list[tuple[Leg, LiquidityCurve]] = []
    for proto, key, addr in jobs:
        vid = f"uniswap_{proto}@{m.name}:{addr.lower()}"
        if not wanted(vid, only) and not wanted(key, only):
            continue
        fn = _v3_leg if proto == "v3" else _v2_leg
        try:
            got = await fn(src, inst, side, size, block, key, addr)
        except QuoteMismatchError:
            raise
        except AgentError as e:
            out.excluded.append((vid, f"{type(e).__name__}: {e}"))
            continue
        if got is not None:
            built.append(got)
    if not built:
        return
    native = await native_in_quote(src, inst.quote, block, built[0][1], inst.base)
    assert src.meter is not None
    wei = await src.meter.wei_per_gas()
    for leg, curve in built:
        gas_q = GasMeter.to_quote(leg.venue_ref["gas_units"], wei, native)
        if src.l2:
            assert src.bridge is not None
            curve = BridgedCurve(
                curve, src.bridge.fee_bps, time_bps(src.bridge, src.time_bps_per_min)
            )
            ref = {**leg.venue_ref, "bridge_bps": src.bridge.fee_bps,
                   "time_bps": str(Decimal(float(curve.time_bps)).quantize(Decimal("0.0001")))}  # fmt: skip
            leg = Leg(leg.venue_id, LegKind.L2_AMM, leg.chain_id, curve,
                      gas_q + src.l1_deposit_gas_quote, leg.pin, venue_ref=ref)  # fmt: skip
        else:
            leg = Leg(
                leg.venue_id, leg.kind, leg.chain_id, curve, gas_q, leg.pin, venue_ref=leg.venue_ref
            )
        out.legs.append(leg)


async def _cex_legs(
    src: CexSource,
    inst: Spot,
    side: Side,
    bd: int,
    qd: int,
    only: Sequence[str] | None,
    out: Gathered,
) -> None:
    from agent.venues.cex.book import book_curve

    vid = src.venue.id
    if not wanted(vid, only):
        return
    try:
        curve, pin = await book_curve(
            src.venue, inst, side, base_decimals=bd, quote_decimals=qd,
            symbol=src.symbol, max_age_ms=src.max_age_ms,
        )  # fmt: skip
    except AgentError as e:
        out.excluded.append((vid, f"{type(e).__name__}: {e}"))
        return
    except Exception as e:  # ccxt's own errors (network, exchange): left out, with the reason
        out.excluded.append((vid, f"{type(e).__name__}: {e}"))
        return
    sym = src.symbol or src.venue.symbols.symbol(inst)
    out.legs.append(Leg(vid, LegKind.CEX, None, curve, 0, pin, venue_ref={"symbol": sym}))


async def gather(
    inst: Spot,
    side: Side,
    size: int,
    *,
    chains: Sequence[ChainSource],
    cexes: Sequence[CexSource] = (),
    only: Sequence[str] | None = None,
) -> Gathered:
    """Every leg for ``size`` base units of ``inst`` on ``side``, read now (one pin per chain
    and per book), with what was left out and why."""
    out = Gathered()
    l1 = next((c for c in chains if not c.l2), chains[0] if chains else None)
    if l1 is None and not cexes:
        raise ValidationError("venues", "no chain and no exchange to route over")
    bd = l1.manifest.token(inst.base).decimals if l1 else 18
    qd = l1.manifest.token(inst.quote).decimals if l1 else 6
    await asyncio.gather(
        *(_chain_legs(c, inst, side, size, only, out) for c in chains),
        *(_cex_legs(x, inst, side, bd, qd, only, out) for x in cexes),
    )
    out.legs.sort(key=lambda lg: lg.venue_id)  # a stable order: plans are reproducible
    return out
