"""Read a portfolio file (TOML or JSON): positions, collateral, market, report settings.

Every bad field is reported as one line naming it (``positions[2].strike: ...``). The
format is documented by examples/portfolio.toml.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import ValidationError
from agent.model.enums import OptionKind
from agent.model.instruments import Instrument, OptionContract, Perpetual, Spot
from agent.model.positions import Portfolio, Position
from agent.risk.market import MarketSnapshot, UnderlyingMarket


@dataclass(frozen=True, slots=True)
class ReportSettings:
    confidence: float = 0.99
    horizon_days: int = 1
    mc_scenarios: int = 10_000
    seed: int = 7
    history_days: int = 500
    history: Path | None = None


@dataclass(frozen=True, slots=True)
class PortfolioFile:
    portfolio: Portfolio
    market: MarketSnapshot
    settings: ReportSettings


def _dec(field: str, v: Any, *, positive: bool = False) -> Decimal:
    if isinstance(v, bool) or v is None:
        raise ValidationError(field, f"{v!r} is not a number", 'write it as a string, e.g. "1.5"')
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise ValidationError(field, f"{v!r} is not a number", 'e.g. "1.5"') from None
    if not d.is_finite():
        raise ValidationError(field, f"{v!r} is not finite")
    if positive and d <= 0:
        raise ValidationError(field, f"{v} must be > 0")
    return d


def _time(field: str, v: Any) -> datetime:
    if isinstance(v, datetime):
        t = v
    else:
        try:
            t = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                field, f"{v!r} is not an ISO time", "e.g. 2026-12-25T08:00:00Z"
            ) from None
    if t.tzinfo is None:
        raise ValidationError(field, "has no timezone", "append Z for UTC")
    return t.astimezone(UTC)


def _str(field: str, d: Mapping[str, Any], key: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise ValidationError(f"{field}.{key}", "is missing or not text")
    return v


def _instrument(f: str, p: Mapping[str, Any]) -> Instrument:
    kind = p.get("type")
    if kind == "spot":
        return Spot(_str(f, p, "base"), _str(f, p, "quote"))
    if kind == "perp":
        return Perpetual(
            _str(f, p, "base"), _str(f, p, "quote"), str(p.get("settle", p.get("quote")))
        )
    if kind == "option":
        try:
            ok = OptionKind(str(p.get("kind", "")).lower())
        except ValueError:
            raise ValidationError(f"{f}.kind", f"{p.get('kind')!r} is not call or put") from None
        return OptionContract(
            _str(f, p, "underlying"),
            str(p.get("quote", "USD")),
            _dec(f"{f}.strike", p.get("strike"), positive=True),
            _time(f"{f}.expiry", p.get("expiry")),
            ok,
        )
    raise ValidationError(f"{f}.type", f"{kind!r} is not spot, perp or option")


def parse_portfolio(doc: Mapping[str, Any], base_dir: Path | None = None) -> PortfolioFile:
    as_of = _time("as_of", doc.get("as_of", datetime.now(UTC).isoformat()))
    markets: dict[str, UnderlyingMarket] = {}
    mk = doc.get("market", {})
    if not isinstance(mk, Mapping) or not mk:
        raise ValidationError("market", "is missing", "add [market.ETH] with spot and vol")
    for u, m in mk.items():
        f = f"market.{u}"
        if not isinstance(m, Mapping):
            raise ValidationError(f, "must be a table with spot and vol")
        markets[u] = UnderlyingMarket(
            spot=float(_dec(f"{f}.spot", m.get("spot"), positive=True)),
            vol=float(_dec(f"{f}.vol", m.get("vol"), positive=True)),
            as_of=_time(f"{f}.as_of", m["as_of"]) if "as_of" in m else as_of,
            rate=float(_dec(f"{f}.rate", m.get("rate", 0))),
            carry=float(_dec(f"{f}.carry", m.get("carry", 0))),
        )
    positions, smile = [], {}
    raw = doc.get("positions", [])
    if not isinstance(raw, list):
        raise ValidationError("positions", "must be a list ([[positions]] tables)")
    for i, p in enumerate(raw):
        f = f"positions[{i}]"
        if not isinstance(p, Mapping):
            raise ValidationError(f, "must be a table")
        inst = _instrument(f, p)
        entry = p.get("entry")
        try:
            pos = Position(
                inst,
                _dec(f"{f}.size", p.get("size")),
                str(p.get("venue", "")),
                entry_price=_dec(f"{f}.entry", entry, positive=True) if entry is not None else None,
                multiplier=_dec(f"{f}.multiplier", p.get("multiplier", 1), positive=True),
            )
        except ValidationError as e:
            raise ValidationError(f"{f} ({e.field})", e.problem, e.fix) from None
        if pos.underlying not in markets:
            raise ValidationError(f"{f}", f"no [market.{pos.underlying}] for its underlying")
        if "vol" in p:
            smile[inst.symbol] = float(_dec(f"{f}.vol", p["vol"], positive=True))
        positions.append(pos)
    coll = doc.get("collateral", {})
    if not isinstance(coll, Mapping):
        raise ValidationError("collateral", "must be a table of asset = amount")
    collateral = tuple((a, _dec(f"collateral.{a}", v)) for a, v in coll.items())
    rs = doc.get("risk", {})
    hist = rs.get("history")
    settings = ReportSettings(
        confidence=float(_dec("risk.confidence", rs.get("confidence", 0.99), positive=True)),
        horizon_days=int(_dec("risk.horizon_days", rs.get("horizon_days", 1), positive=True)),
        mc_scenarios=int(_dec("risk.mc_scenarios", rs.get("mc_scenarios", 10_000), positive=True)),
        seed=int(_dec("risk.seed", rs.get("seed", 7))),
        history_days=int(_dec("risk.history_days", rs.get("history_days", 500), positive=True)),
        history=(base_dir or Path()) / hist if hist else None,
    )
    market = MarketSnapshot(as_of, markets, smile, str(doc.get("quote", "USD")))
    return PortfolioFile(Portfolio(tuple(positions), collateral), market, settings)


def load_portfolio(path: Path) -> PortfolioFile:
    if not path.is_file():
        raise ValidationError("PORTFOLIO_FILE", f"{path} does not exist")
    text = path.read_text()
    try:
        doc = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise ValidationError("PORTFOLIO_FILE", f"{path} does not parse: {e}") from None
    return parse_portfolio(doc, path.parent)


def load_history(path: Path, underlyings: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A CSV of daily closes, one column per underlying (header = names), oldest first."""
    if not path.is_file():
        raise ValidationError("risk.history", f"{path} does not exist")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for u in underlyings:
        try:
            out[u] = np.array([float(r[u]) for r in rows])
        except KeyError:
            raise ValidationError("risk.history", f"{path} has no column {u}") from None
        except ValueError as e:
            raise ValidationError("risk.history", f"column {u}: {e}") from None
    return out
