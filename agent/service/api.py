"""The daemon's REST and WebSocket API (aiohttp), registered from ``schema.ROUTES``.

Every error is JSON ``{"error": {"code", "message", "field"}}`` with a stable code: bodies are
parsed strictly BEFORE anything reaches the OMS (malformed JSON, unknown fields, wrong types:
400; oversized: 413), tokens are checked before the body is read (401/403), so a refused
request never signs or journals anything.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from agent.errors import (
    AgentError,
    ChainError,
    IllegalTransitionError,
    ValidationError,
    VenueError,
)
from agent.oms import OrderState
from agent.oms.order import order_dict as order_json
from agent.service.metrics import CONTENT_TYPE
from agent.service.schema import ROLES, ROUTES, Route, openapi_document

if TYPE_CHECKING:
    from agent.service.daemon import Daemon

log = logging.getLogger("agent.service.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return web.json_response(body, status=status)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=lambda o: str(o) if isinstance(o, Decimal) else repr(o))


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _pydantic_error(e: PydanticValidationError) -> ApiError:
    err = e.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    kind = err["type"]
    if kind == "json_invalid":
        return ApiError(400, "MALFORMED_JSON", f"body is not valid JSON: {err['msg']}")
    if kind == "extra_forbidden":
        return ApiError(400, "UNKNOWN_FIELD", f"{field}: unknown field; remove it", field)
    if kind == "missing":
        return ApiError(400, "MISSING_FIELD", f"{field}: is required", field)
    if kind.endswith("_type") or kind in ("model_type", "literal_error"):
        return ApiError(400, "WRONG_TYPE", f"{field}: {err['msg']}", field)
    return ApiError(400, "INVALID_VALUE", f"{field}: {err['msg']}", field)


class Api:
    """Handlers over one daemon. ``tokens`` maps bearer token -> role (read from env vars)."""

    def __init__(self, daemon: Daemon, tokens: dict[str, str], max_body: int) -> None:
        self.d = daemon
        self.tokens = tokens
        self.max_body = max_body
        self._doc = openapi_document("0.1.0")

    # --- plumbing --------------------------------------------------------------------------
    def app(self) -> web.Application:
        # aiohttp's own limit sits above ours so our 413 (JSON, with a code) answers first
        a = web.Application(client_max_size=self.max_body + 1024, middlewares=[self._errors])
        for r in ROUTES:
            a.router.add_route(r.method, r.path, self._wrap(r), name=r.handler)
        return a

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.match_info.route.name or "unmatched"
        try:
            resp = await handler(request)
        except ApiError as e:
            resp = error_response(e.status, e.code, e.message, e.field)
        except web.HTTPRequestEntityTooLarge:
            resp = self._too_large()
        except web.HTTPException as e:  # 404/405 of the router
            code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(e.status, "HTTP_ERROR")
            resp = error_response(e.status, code, e.reason)
        except IllegalTransitionError as e:
            resp = error_response(409, e.code, e.message)
        except ValidationError as e:
            resp = error_response(400, e.code, e.message, e.field)
        except (ChainError, VenueError) as e:  # the node or venue failed us: upstream
            resp = error_response(502, e.code, e.message)
        except AgentError as e:
            resp = error_response(500, e.code, e.message)
        except Exception as e:  # a bug: still JSON with a code, and the traceback in the log
            log.exception("%s %s failed", request.method, request.path)
            resp = error_response(
                500, "INTERNAL", f"internal error ({type(e).__name__}); see the daemon's log"
            )
        self.d.metrics.http.labels(route=route, status=str(resp.status)).inc()
        return resp

    def _too_large(self) -> web.Response:
        return error_response(
            413, "BODY_TOO_LARGE", f"body exceeds {self.max_body} bytes (api.max_body_bytes)"
        )

    def _role(self, request: web.Request, need: str) -> str:
        auth = request.headers.get("Authorization", "")
        if not auth:
            raise ApiError(401, "AUTH_MISSING", "no bearer token: send Authorization: Bearer ...")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "AUTH_MISSING", "Authorization must be 'Bearer <token>'")
        role = None
        for known, r in self.tokens.items():  # compare against all: no early exit to time
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                role = r
        if role is None:
            raise ApiError(401, "AUTH_INVALID", "unknown bearer token")
        if ROLES.index(role) < ROLES.index(need):
            raise ApiError(403, "AUTH_FORBIDDEN", f"role {role!r} may not do this (needs {need!r})")
        return role

    async def _body(self, request: web.Request, model: type[BaseModel]) -> Any:
        too_large = ApiError(
            413, "BODY_TOO_LARGE", f"body exceeds {self.max_body} bytes (api.max_body_bytes)"
        )
        if request.content_length is not None and request.content_length > self.max_body:
            raise too_large  # refused before reading it
        raw = await request.content.read(self.max_body + 1)  # chunked bodies: read one byte more
        if len(raw) > self.max_body:
            raise too_large
        try:
            return model.model_validate_json(raw or b"{}")
        except PydanticValidationError as e:
            raise _pydantic_error(e) from None

    def _wrap(self, r: Route) -> Any:
        fn = getattr(self, r.handler)

        async def handler(request: web.Request) -> web.StreamResponse:
            if r.role is not None:
                self._role(request, r.role)
            if r.method == "POST" and self.d.draining:
                raise ApiError(503, "DRAINING", "the daemon is shutting down; retry elsewhere")
            if r.body is not None:
                return await fn(request, await self._body(request, r.body))
            return await fn(request)

        return handler

    # --- handlers (names as in schema.ROUTES) ------------------------------------------
    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(self._doc)

    async def healthz(self, request: web.Request) -> web.Response:
        return ok({"ok": True, "draining": self.d.draining})

    async def metrics(self, request: web.Request) -> web.Response:
        self.d.refresh_gauges()
        return web.Response(body=self.d.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def submit_order(self, request: web.Request, body: Any) -> web.Response:
        status, data = await self.d.submit(body)
        if data.get("status") == "denied" or data.get("state") == "denied":
            raise ApiError(422, data.get("code") or "ORDER_DENIED", data.get("reason", ""))
        resp = ok(data, status)
        if data.get("location"):
            resp.headers["Location"] = data["location"]
        return resp

    async def list_orders(self, request: web.Request) -> web.Response:
        state = request.query.get("state")
        show_all = request.query.get("all") in ("1", "true")
        if state is not None and state not in {s.value for s in OrderState}:
            raise ApiError(400, "INVALID_VALUE", f"state: {state!r} is not a state", "state")
        orders = self.d.orders()
        rows = [
            order_json(o)
            for o in orders
            if (show_all or state or not o.state.terminal)
            and (state is None or o.state.value == state)
        ]
        return ok({"orders": rows})

    async def get_order(self, request: web.Request) -> web.Response:
        return ok(order_json(self.d.order(request.match_info["client_order_id"])))

    async def fills(self, request: web.Request) -> web.Response:
        cid = request.query.get("client_order_id")
        orders = [self.d.order(cid)] if cid else self.d.orders()
        rows = [
            {"client_order_id": o.client_order_id, "instrument": o.instrument,
             "side": o.side.value, "venue": o.venue, "trade_id": f.trade_id,
             "quantity": str(f.quantity), "price": str(f.price), "fee": str(f.fee),
             "fee_asset": f.fee_asset}
            for o in orders
            for f in o.fills
        ]  # fmt: skip
        return ok({"fills": rows})

    async def cancel_order(self, request: web.Request, body: Any) -> web.Response:
        o = await self.d.cancel(request.match_info["client_order_id"], body.reason)
        return ok(order_json(o))

    async def positions(self, request: web.Request) -> web.Response:
        return ok({"positions": await self.d.positions()})

    async def risk(self, request: web.Request) -> web.Response:
        return ok(await self.d.risk())

    async def venues(self, request: web.Request) -> web.Response:
        return ok({"venues": await self.d.venue_health()})

    async def trading(self, request: web.Request) -> web.Response:
        return ok(self.d.trading())

    async def halt(self, request: web.Request, body: Any) -> web.Response:
        state = "reducing" if body.reducing else "halted"
        return ok(await self.d.set_trading(state, body.reason, "api", onchain=body.onchain))

    async def resume(self, request: web.Request, body: Any) -> web.Response:
        return ok(await self.d.set_trading("active", body.reason, "api"))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        q = self.d.hub.subscribe()
        reader = asyncio.ensure_future(self._drain_client(ws))
        getter: asyncio.Future[Any] | None = None
        try:
            while True:
                getter = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    break  # the client went away
                msg = getter.result()
                if msg is None:
                    break  # the daemon is draining (EventHub.close)
                await ws.send_str(_dumps(msg))
        finally:
            for f in (getter, reader):
                if f is not None:
                    f.cancel()
            self.d.hub.unsubscribe(q)
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"daemon stopping")
        return ws

    async def _drain_client(self, ws: web.WebSocketResponse) -> None:
        async for msg in ws:  # the client sends nothing we act on; closing ends the stream
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
