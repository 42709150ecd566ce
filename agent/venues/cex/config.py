"""Configuration of one CEX venue, and building the (unmodified) ccxt exchange for it.

Pointing ccxt at the local simulator is configuration, not patching: the instance's ``urls``
(API entries) are overridden at construction, and options switch off endpoints the simulator
does not serve (Binance's sapi currencies and margin pairs, fapi/dapi market lists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.errors import ConfigError

DEFAULT_DECIMALS = {"BTC": 8, "ETH": 18, "USDT": 6, "USDC": 6, "DAI": 18, "WBTC": 8, "WETH": 18}


@dataclass(frozen=True, slots=True)
class CexConfig:
    exchange_id: str  # any ccxt id: binance, deribit, okx, ...
    api_key: str = ""
    secret: str = ""
    venue_id: str = ""  # defaults to "cex:<exchange_id>"
    sim_url: str | None = None  # http://127.0.0.1:PORT of agent.exchange_sim, or None
    streaming: bool | None = None  # None: use ccxt.pro streams when the venue supports them
    rate_per_s: float = 10.0  # our budget, kept under the venue's published limit
    burst: int = 5
    symbols: tuple[str, ...] = ()  # instruments reconciliation always looks at
    asset_decimals: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DECIMALS))
    timeout_ms: int = 10_000
    max_retries: int = 4
    poll_interval_s: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import ccxt

        if self.exchange_id not in ccxt.exchanges:
            raise ConfigError(
                "cex.exchange_id",
                f"{self.exchange_id!r} is not a ccxt exchange",
                "use a ccxt id such as binance or deribit",
            )
        if self.rate_per_s <= 0:
            raise ConfigError("cex.rate_per_s", f"{self.rate_per_s} must be positive")

    @property
    def id(self) -> str:
        return self.venue_id or f"cex:{self.exchange_id}"


def sim_overrides(exchange_id: str, base_url: str) -> dict[str, Any]:
    """ccxt constructor settings that point ``exchange_id`` at the simulator on ``base_url``."""
    base = base_url.rstrip("/")
    ws = base.replace("http://", "ws://").replace("https://", "wss://")
    if exchange_id == "binance":
        rest = {k: f"{base}/api/v3" for k in ("public", "private")}
        return {
            "urls": {
                "api": {
                    **rest,
                    # market streams under /stream (ccxt tells spot stream sockets by that
                    # substring of the real host, stream.binance.com); user data over ws-api
                    "ws": {"spot": f"{ws}/stream/ws", "ws-api": {"spot": f"{ws}/ws-api/v3"}},
                }
            },
            "options": {
                "fetchMarkets": {"types": ["spot"]},  # no fapi/dapi/eapi here
                "fetchCurrencies": False,  # sapi capital/config/getall is not served
                "fetchMargins": False,  # sapi margin pairs are not served
                "defaultType": "spot",
            },
        }
    if exchange_id == "deribit":
        return {"urls": {"api": {"rest": base, "ws": f"{ws}/ws/api/v2"}}}
    raise ConfigError(
        "cex.sim_url",
        f"the simulator does not speak {exchange_id!r}",
        "use binance or deribit with sim_url, or drop sim_url",
    )


def build_exchange(cfg: CexConfig, *, pro: bool, session: Any = None) -> Any:
    """A ccxt (async) or ccxt.pro instance for ``cfg``. Our limiter replaces ccxt's own.

    ``session``: an aiohttp ClientSession for ccxt to use (its public ``session`` option; the
    caller closes it), e.g. :func:`agent.venues.cex.session.new_session`."""
    import ccxt.async_support as ccxt_async
    import ccxt.pro as ccxt_pro

    module = ccxt_pro if pro else ccxt_async
    cls = getattr(module, cfg.exchange_id, None) or getattr(ccxt_async, cfg.exchange_id)
    settings: dict[str, Any] = {
        "apiKey": cfg.api_key,
        "secret": cfg.secret,
        "enableRateLimit": False,
        "timeout": cfg.timeout_ms,
    }
    if session is not None:
        settings["session"] = session
    if cfg.sim_url:
        over = sim_overrides(cfg.exchange_id, cfg.sim_url)
        settings["urls"] = over["urls"]
        settings["options"] = dict(over.get("options", {}))
    settings.setdefault("options", {}).update(cfg.options)
    return cls(settings)
