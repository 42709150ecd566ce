"""Seeded synthetic order flow that keeps books alive around a price path.

A market-maker account re-quotes a ladder around the path's price on every step, and a noise
account sends small marketable orders, so takers always find liquidity and trades print. The
path is either geometric Brownian motion from a seed or a fixed list of points (cycled).
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from agent.exchange_sim.accounts import ZERO
from agent.exchange_sim.exchange import Exchange, SimReject
from agent.exchange_sim.instruments import SimInstrument, SimKind
from agent.exchange_sim.matching import SimTif
from agent.model import Side

MM_ACCOUNT = "__mm__"
NOISE_ACCOUNT = "__noise__"
BIG = Decimal(10) ** 12


@dataclass(frozen=True, slots=True)
class FlowConfig:
    seed: int = 7
    start: dict[str, Decimal] | None = None  # underlying -> starting price
    vol_per_step: float = 0.0005  # GBM sigma per step
    path: Sequence[Decimal] | None = None  # fixed path (applies to every underlying, scaled)
    levels: int = 10
    spread_bps: int = 10
    level_size: dict[str, Decimal] | None = None  # underlying -> size per level
    noise_prob: float = 0.3
    noise_lots: tuple[int, int] = (1, 10)  # a noise taker trades between these many lots


def _round_to(x: Decimal, step: Decimal) -> Decimal:
    return (x / step).to_integral_value(rounding=ROUND_DOWN) * step


class SyntheticFlow:
    def __init__(self, ex: Exchange, cfg: FlowConfig | None = None) -> None:
        self.ex = ex
        self.cfg = cfg or FlowConfig()
        self.rng = random.Random(self.cfg.seed)
        self.step_no = 0
        self.price: dict[str, Decimal] = dict(self.cfg.start or {})
        for inst in ex.instruments.values():
            self.price.setdefault(inst.base, ex.index.get(inst.base, Decimal(100)))
            for acct in (MM_ACCOUNT, NOISE_ACCOUNT):
                for asset in (inst.base, inst.quote):
                    if ex.ledger.free(acct, asset) < BIG:
                        ex.ledger.deposit(acct, asset, BIG)
        self._origin = dict(self.price)
        ex.index.update(self.price)

    def advance_path(self) -> None:
        self.step_no += 1
        for u in self.price:
            if self.cfg.path:
                p = Decimal(self.cfg.path[self.step_no % len(self.cfg.path)])
                self.price[u] = p
            else:
                z = self.rng.gauss(0.0, 1.0)
                s = self.cfg.vol_per_step
                f = math.exp(-0.5 * s * s + s * z)
                self.price[u] = (self.price[u] * Decimal(str(round(f, 10)))).quantize(
                    Decimal("0.0001")
                )
        self.ex.index.update(self.price)

    def step(self) -> None:
        """One tick: move the path, re-quote every live instrument, maybe take liquidity."""
        self.advance_path()
        self.ex.settle_expired()
        for inst in self.ex.instruments.values():
            if inst.name in self.ex.settled:
                continue
            self.requote(inst)
            if self.rng.random() < self.cfg.noise_prob:
                self._noise(inst)

    def fair(self, inst: SimInstrument) -> Decimal:
        if inst.kind is SimKind.OPTION:
            return self.ex.mark_price(inst.name)
        return self.price[inst.base]

    def requote(self, inst: SimInstrument) -> None:
        ex = self.ex
        ex.cancel_all(MM_ACCOUNT, inst.name)
        fair = self.fair(inst)
        if fair <= 0:
            return
        half = max(inst.tick, fair * Decimal(self.cfg.spread_bps) / Decimal(20_000))
        size = (self.cfg.level_size or {}).get(inst.base) or max(inst.min_amount, inst.lot * 1000)
        for i in range(self.cfg.levels):
            off = half + inst.tick * i * max(1, int(half / inst.tick) // 2 or 1)
            bid = _round_to(fair - off, inst.tick)
            ask = _round_to(fair + off, inst.tick) + inst.tick
            for side, px in ((Side.BUY, bid), (Side.SELL, ask)):
                if px <= 0:
                    continue
                # a level that would cross someone else's resting order is skipped
                with contextlib.suppress(SimReject):
                    ex.place(MM_ACCOUNT, inst.name, side, size, px, post_only=True)

    def _noise(self, inst: SimInstrument) -> None:
        side = Side.BUY if self.rng.random() < 0.5 else Side.SELL
        lots = self.rng.randint(*self.cfg.noise_lots)
        size = max(inst.min_amount, inst.lot * lots)
        with contextlib.suppress(SimReject):
            self.ex.place(NOISE_ACCOUNT, inst.name, side, size, None, tif=SimTif.IOC)

    def drift(self) -> dict[str, Decimal]:
        return {u: self.price[u] - self._origin.get(u, ZERO) for u in self.price}
