"""HTTP quote service around a :class:`Quoter` (aiohttp).

POST /rfq        -> 200 SignedQuote wire JSON, or 4xx {"error": {"code", "message"}}
GET  /health     -> {"maker", "market", "chainId"}
GET  /inventory  -> positions, outstanding quotes, hedges
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from agent.errors import AgentError, ValidationError
from agent.marketmaker.quoter import Quoter, QuoteRefused, Rfq
from agent.model import Side
from agent.venues.options.eip712 import ZERO_ADDRESS
from agent.venues.options.series import SeriesTerms

QUOTER_KEY = web.AppKey("quoter", Quoter)
FEEDS_KEY = web.AppKey("feeds", frozenset)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def parse_rfq(body: object, allowed_feeds: frozenset[str]) -> Rfq:
    if not isinstance(body, dict):
        raise ValidationError("rfq", "is not a JSON object")
    series = SeriesTerms.from_wire(body.get("series"))
    if allowed_feeds and series.feed.lower() not in allowed_feeds:
        raise ValidationError(
            "series.feed",
            f"{series.feed} is not a feed this maker prices from",
            "use the manifest's",
        )
    try:
        side = Side(str(body.get("side", "")).lower())
    except ValueError:
        raise ValidationError("side", f"{body.get('side')!r} is not buy or sell") from None
    raw = body.get("amount")
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).isdigit():
        raise ValidationError("amount", f"{raw!r} is not a non-negative integer string")
    taker = body.get("taker") or ZERO_ADDRESS
    if not isinstance(taker, str) or len(taker) != 42 or not taker.startswith("0x"):
        raise ValidationError("taker", f"{taker!r} is not an address")
    return Rfq(series, side, int(raw), taker)


async def handle_rfq(request: web.Request) -> web.Response:
    quoter = request.app[QUOTER_KEY]
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "INVALID_INPUT", "body is not JSON")
    try:
        rfq = parse_rfq(body, request.app[FEEDS_KEY])
        signed = await quoter.quote(rfq)
    except ValidationError as e:
        return _error(400, e.code, str(e.message))
    except QuoteRefused as e:
        return _error(409, e.code, e.message)
    except AgentError as e:
        return _error(503, e.code, e.message)
    return web.json_response(signed.to_wire())


async def handle_health(request: web.Request) -> web.Response:
    q = request.app[QUOTER_KEY]
    return web.json_response({"maker": q.maker, "market": q.cfg.market, "chainId": q.cfg.chain_id})


async def handle_inventory(request: web.Request) -> web.Response:
    inv = request.app[QUOTER_KEY].inventory
    return web.json_response(
        {
            "positions": {hex(k): str(v) for k, v in inv.positions.items()},
            "outstanding": [
                {"series": hex(o.series_id), "change": str(o.change), "nonce": str(o.nonce)}
                for o in inv.outstanding.values()
            ],
            "hedgeDelta": {k: str(v) for k, v in inv.hedge_delta.items()},
        }
    )


def make_app(quoter: Quoter, allowed_feeds: frozenset[str] = frozenset()) -> web.Application:
    app = web.Application()
    app[QUOTER_KEY] = quoter
    app[FEEDS_KEY] = frozenset(f.lower() for f in allowed_feeds)
    app.add_routes(
        [
            web.post("/rfq", handle_rfq),
            web.get("/health", handle_health),
            web.get("/inventory", handle_inventory),
        ]
    )
    return app


@dataclass
class RunningServer:
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()


async def serve(
    quoter: Quoter,
    host: str = "127.0.0.1",
    port: int = 0,
    allowed_feeds: frozenset[str] = frozenset(),
) -> RunningServer:
    """Start the service; port 0 picks a free one (the bound URL is returned)."""
    runner = web.AppRunner(make_app(quoter, allowed_feeds), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sock = site._server.sockets[0]  # type: ignore[union-attr]  # the only way to learn port 0
    bound = sock.getsockname()[1]
    return RunningServer(runner, f"http://{host}:{bound}")
