"""``agent.toml``: the one configuration file of the daemon, validated with pydantic.

Secrets never live in the file: signer keys, CEX credentials and API tokens are named by the
environment variable that holds them (``*_env`` fields), and a key that looks like a secret
given inline is refused. Checks that need the outside world (env vars set, the RPC's chain id)
run at start (``agent.service.daemon``), not here, so ``agent config validate`` works offline.

Errors name the file, the line and the dotted field (see ``agent.service.tomlpos``).
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from agent.errors import ConfigError
from agent.service.tomlpos import line_of

Address = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
PosDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
NonNegDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Role = Literal["read", "trade", "admin"]

# names a secret would have if someone wrote it into the file instead of naming its env var
_SECRETISH = re.compile(r"(^|_)(key|secret|password|passphrase|token|private)(_|$)", re.I)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for k in data:
                if (
                    isinstance(k, str)
                    and _SECRETISH.search(k)
                    and not k.endswith("_env")
                    and k not in cls.model_fields
                ):
                    raise ValueError(
                        f"{k}: secrets are never read from the file; name the environment "
                        f'variable that holds it: {k}_env = "MY_VAR"'
                    )
        return data


class JournalConfig(_Strict):
    # a SQLite file (relative to the config file), or a PostgreSQL journal that several
    # daemons share: "postgresql://user@host:port/db#schema" (docs/scale-out.md)
    path: Path = Path(".state/journal.sqlite")


class ChainConfig(_Strict):
    chain_id: int = Field(gt=0)
    rpc_url: Annotated[str, StringConstraints(pattern=r"^(https?|wss?)://")]
    manifest: Path  # the deployment manifest (addresses, tokens); relative to the config file


class WalletConfig(_Strict):
    safe: Address
    module: Address
    signer_key_env: EnvName = "AGENT_OPERATOR_KEY"
    guardian_key_env: EnvName | None = None  # for `halt --onchain`: pauses the module


class UniswapVenueConfig(_Strict):
    kind: Literal["uniswap_v2", "uniswap_v3"]
    chain: str


class CexVenueConfig(_Strict):
    kind: Literal["cex"]
    exchange: str  # a ccxt id
    sim_url: str | None = None
    api_key_env: EnvName | None = None
    secret_env: EnvName | None = None
    rate_per_s: float = Field(10.0, gt=0)
    symbols: tuple[str, ...] = ()


VenueConfig = Annotated[UniswapVenueConfig | CexVenueConfig, Field(discriminator="kind")]


class RiskConfig(_Strict):
    """Every check of agent.risk.gate, with the same names as ``RiskLimits``."""

    max_order_notional: PosDecimal = Decimal(1_000_000)
    max_position: dict[str, NonNegDecimal] = {}
    max_underlying_position: dict[str, NonNegDecimal] = {}
    price_band_bps: int = Field(500, ge=0, le=10_000)
    max_slippage_bps: int = Field(100, ge=0, le=10_000)
    max_venue_exposure: dict[str, NonNegDecimal] = {}
    max_concentration: PosDecimal = Decimal(5)
    max_abs_delta: dict[str, NonNegDecimal] = {}
    max_abs_vega: dict[str, NonNegDecimal] = {}
    max_orders: int = Field(50, ge=0)
    rate_window_s: float = Field(10.0, gt=0)
    max_staleness_s: float = Field(30.0, gt=0)

    def limits(self) -> Any:
        from datetime import timedelta

        from agent.risk.checks.types import RiskLimits

        d = self.model_dump()
        d["rate_window"] = timedelta(seconds=d.pop("rate_window_s"))
        d["max_staleness"] = timedelta(seconds=d.pop("max_staleness_s"))
        return RiskLimits(**d)


class PolicyConfig(_Strict):
    file: Path | None = None  # the fund's signing policy; None = on-chain module only


class ApiToken(_Strict):
    env: EnvName  # the environment variable holding the bearer token
    role: Role


class ApiConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (tests)
    max_body_bytes: int = Field(65_536, gt=0)
    # accepted orders waiting for the intake's one executor: beyond, 503 INTAKE_BUSY (a
    # market order queued for minutes would execute into a market that has moved on)
    max_queued_orders: int = Field(1_000, gt=0)
    tokens: tuple[ApiToken, ...] = ()


class MonitorConfig(_Strict):
    margin_warning: float = Field(0.5, gt=0)
    margin_critical: float = Field(0.8, gt=0)
    margin_liquidation: float = Field(1.0, gt=0)
    margin_interval_s: float = Field(15.0, gt=0)
    vols: dict[str, Annotated[float, Field(gt=0, lt=10)]] = {"*": 0.8}
    track_interval_s: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> MonitorConfig:
        if not self.margin_warning < self.margin_critical <= self.margin_liquidation:
            raise ValueError("margin_warning < margin_critical <= margin_liquidation must hold")
        return self


class AlgoConfig(_Strict):
    default: Literal["market"] = "market"
    slippage_bps: int = Field(30, ge=0, le=10_000)


class HedgeRouteConfig(_Strict):
    """How one underlying is hedged: a swap of it against ``quote`` on ``chain`` (default: the
    first wallet's), when |delta - target| exceeds ``band`` (underlying units)."""

    quote: str = "USDC"
    chain: str | None = None
    band: NonNegDecimal = Decimal(0)
    target: Decimal = Field(Decimal(0), allow_inf_nan=False)
    lot: PosDecimal = Decimal("0.001")
    max_size: PosDecimal | None = None
    max_slippage_bps: int = Field(30, ge=0, le=10_000)


class HedgerConfig(_Strict):
    """The delta hedger's loop (agent.risk.hedger): with ``execute = false`` its proposals are
    journaled (HedgeProposed) and streamed as alerts only; ``true`` sends them as orders
    through the same trading state, risk gate and policy as any other."""

    execute: bool = False
    interval_s: float = Field(30.0, gt=0)
    routes: dict[str, HedgeRouteConfig] = {}  # keyed by underlying (WETH, WBTC, ...)


class FixSessionConfig(_Strict):
    sender_comp_id: Annotated[str, StringConstraints(pattern=r"^[!-~]{1,32}$")] = "AGENT"
    target_comp_id: Annotated[str, StringConstraints(pattern=r"^[!-~]{1,32}$")]  # the client
    username: str = Field(min_length=1)
    password_env: EnvName  # the environment variable holding the client's password
    max_heartbeat_s: int = Field(300, ge=1, le=3600)

    @field_validator("sender_comp_id", "target_comp_id")
    @classmethod
    def _no_dot(cls, v: str) -> str:
        if "." in v:  # a client's orders are named <CompID>.<ClOrdID> in the OMS
            raise ValueError(f"{v!r}: a CompID has no '.'")
        return v


class FixConfig(_Strict):
    """The FIX 4.4 acceptor inside the daemon (docs/fix.md); orders go to ``chain``'s
    pipeline (default: the first chain with a wallet)."""

    host: str = "127.0.0.1"
    port: int = Field(9878, ge=0, le=65535)  # 0: any free port (tests)
    chain: str | None = None
    sessions: tuple[FixSessionConfig, ...] = Field(min_length=1)

    def session_configs(self, cfg: AgentConfig) -> list[Any]:
        from agent.service.fix.session import SessionConfig

        out = []
        for i, s in enumerate(self.sessions):
            pw = cfg.secret(s.password_env, f"fix.sessions.{i}.password_env")
            out.append(
                SessionConfig(s.sender_comp_id, s.target_comp_id, s.username, pw, s.max_heartbeat_s)
            )
        return out


class AgentConfig(_Strict):
    journal: JournalConfig = JournalConfig()
    chains: dict[str, ChainConfig] = Field(min_length=1)
    wallets: dict[str, WalletConfig] = {}  # keyed by chain name
    venues: dict[str, VenueConfig] = {}
    risk: RiskConfig = RiskConfig()
    policy: PolicyConfig = PolicyConfig()
    api: ApiConfig = ApiConfig()
    monitor: MonitorConfig = MonitorConfig()
    algos: AlgoConfig = AlgoConfig()
    hedger: HedgerConfig = HedgerConfig()
    fix: FixConfig | None = None  # no [fix] table: no FIX acceptor

    source: Path | None = Field(None, exclude=True)  # the file it was read from

    @model_validator(mode="after")
    def _references(self) -> AgentConfig:
        for name in self.wallets:
            if name not in self.chains:
                raise _Ref(("wallets", name), f"no chain named {name!r} in [chains]")
        for vid, v in self.venues.items():
            if isinstance(v, UniswapVenueConfig) and v.chain not in self.chains:
                raise _Ref(("venues", vid, "chain"), f"no chain named {v.chain!r} in [chains]")
        for und, r in self.hedger.routes.items():
            if r.chain is not None and r.chain not in self.wallets:
                raise _Ref(("hedger", "routes", und, "chain"), f"no wallet on {r.chain!r}")
        if self.fix is not None and self.fix.chain and self.fix.chain not in self.wallets:
            raise _Ref(("fix", "chain"), f"no wallet for chain {self.fix.chain!r}")
        if self.fix is not None:
            keys = [(s.sender_comp_id, s.target_comp_id) for s in self.fix.sessions]
            if len(set(keys)) != len(keys):
                raise _Ref(("fix", "sessions"), "a sender/target pair is defined twice")
        return self

    def resolve(self, p: Path) -> Path:
        """A path from the file, relative to the file's directory (a PostgreSQL URL as is)."""
        from agent.journal.stores import is_postgres

        if p.is_absolute() or self.source is None or is_postgres(p):
            return p
        return self.source.parent / p

    def secret(self, env: str, field: str) -> str:
        value = os.environ.get(env, "")
        if not value:
            raise ConfigError(field, f"environment variable {env} is not set", f"export {env}=...")
        return value


class _Ref(ValueError):
    """A cross-reference error, carrying the location it is about."""

    def __init__(self, loc: tuple[str, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc


def _location(path: Path, text: str, loc: tuple[Any, ...]) -> str:
    line = line_of(text, loc)
    return f"{path}:{line}" if line else str(path)


def parse(text: str, path: Path) -> AgentConfig:
    """Validate ``text`` (the contents of ``path``); ConfigError names file:line and field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"{path}:{m.group(1)}" if m else str(path)
        reason = re.sub(r"\s*\(at line.*\)", "", str(e))
        raise ConfigError(f"{where}", f"not valid TOML: {reason}", "fix the syntax") from None
    try:
        cfg = AgentConfig.model_validate(raw)
    except PydanticValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, _Ref):
            loc = ctx_err.loc
        # a discriminated union puts the tag in the location (venues.x.cex.field): drop it
        loc = tuple(p for p in loc if p not in ("cex", "uniswap_v2", "uniswap_v3"))
        field = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field; remove it (see `agent config init` for every field)"
        elif err["type"] == "missing":
            msg = "is required"
        raise ConfigError(f"{_location(path, text, loc)}: {field}", msg) from None
    return cfg.model_copy(update={"source": path.resolve()})


def load(path: Path) -> AgentConfig:
    if not path.is_file():
        raise ConfigError(str(path), "no such file", f"write one with `agent config init {path}`")
    return parse(path.read_text(), path)
