"""The API's request bodies and its route table, and the OpenAPI 3 document built from both.

The route table is the single list the server registers and the document describes, so the
two cannot disagree; tests/integration/service checks the served document against the
running handlers anyway (every path answers, every documented body is enforced).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ROLES = ("read", "trade", "admin")  # each includes the ones before it


class _Body(BaseModel):
    # strict: "5" is not an int and 1.5 is not a string; unknown fields are refused
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


_DEC = r"^[0-9]+(\.[0-9]+)?$"


class AlgorithmBody(_Body):
    """An execution algorithm for the parent (agent/algos): decimals as strings."""

    kind: str = Field(description="twap | vwap | pov | iceberg | sniper")
    horizon: str = "10m"
    interval: str = "1m"
    limit: str | None = Field(None, pattern=_DEC)
    deadline: str | None = None
    size_jitter: str = Field("0", pattern=_DEC)
    time_jitter: str = Field("0", pattern=_DEC)
    min_slice: str = Field("0", pattern=_DEC)
    catch_up: str = Field("2", pattern=_DEC)
    participation: str = Field("0.1", pattern=_DEC)
    min_rate: str = Field("0.02", pattern=_DEC)
    max_rate: str = Field("0.25", pattern=_DEC)
    display: str = Field("0", pattern=_DEC)
    stretch: bool = False


class SubmitOrderBody(_Body):
    client_order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    side: Literal["buy", "sell"]
    base: str = Field(min_length=1, max_length=16, description="Asset bought or sold (WETH)")
    quote: str = Field(min_length=1, max_length=16, description="Asset paid or received (USDC)")
    size: str = Field(
        pattern=r"^[0-9]+(\.[0-9]+)?$",
        max_length=40,
        description="Amount of base, a decimal STRING (exact: never a JSON number)",
    )
    max_slippage_bps: int | None = Field(None, ge=0, le=10_000)
    order_type: Literal["market", "limit"] | None = Field(
        None, description="market | limit (default: limit when limit_price is given)"
    )
    limit_price: str | None = Field(
        None, pattern=_DEC, max_length=40,
        description="Worst price, quote per base, a decimal STRING: no child fills beyond it",
    )  # fmt: skip
    time_in_force: Literal["ioc", "gtc", "fok"] = Field(
        "ioc", description="ioc (what fills now; the rest is cancelled). gtc and fok are "
        "refused with UNSUPPORTED_TIME_IN_FORCE (docs/api.md)",
    )  # fmt: skip
    algorithm: Literal["market"] | AlgorithmBody = "market"
    chain: str | None = Field(None, description="Chain name from agent.toml; default: the first")


class CancelBody(_Body):
    reason: str = Field("", max_length=200)


class HaltBody(_Body):
    reason: str = Field("", max_length=200)
    reducing: bool = Field(False, description="REDUCING (only risk-reducing orders) not HALTED")
    onchain: bool = Field(False, description="Also have the guardian pause every chain's module")


class ResumeBody(_Body):
    reason: str = Field("", max_length=200)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: str  # method name on agent.service.api.Api
    role: str | None  # None: no token needed
    summary: str
    body: type[BaseModel] | None = None
    ok: int = 200


ROUTES: tuple[Route, ...] = (
    Route("GET", "/openapi.json", "openapi", None, "This document"),
    Route("GET", "/healthz", "healthz", None, "Liveness: 200 while the daemon runs"),
    Route("GET", "/metrics", "metrics", "read", "Prometheus metrics (text exposition)"),
    Route("POST", "/v1/orders", "submit_order", "trade", "Submit an order: 202 once it is "
          "journaled as accepted, with its Location; routed and executed behind (idempotent on "
          "client_order_id: a resubmit returns the existing order, 200)", SubmitOrderBody, 202),
    Route("GET", "/v1/orders", "list_orders", "read", "List orders (?state=, ?all=1)"),
    Route("GET", "/v1/orders/{client_order_id}", "get_order", "read", "One order"),
    Route("GET", "/v1/fills", "fills", "read", "Fills of every order (?client_order_id=)"),
    Route("POST", "/v1/orders/{client_order_id}/cancel", "cancel_order", "trade",
          "Cancel an order", CancelBody),
    Route("GET", "/v1/positions", "positions", "read", "Safe balances per chain"),
    Route("GET", "/v1/venues", "venues", "read", "Venues and their health"),
    Route("GET", "/v1/risk", "risk", "read", "The whole fund: Greeks, VaR/ES, margin, "
          "liquidation prices"),
    Route("GET", "/v1/trading", "trading", "read", "Trading state and the journal it is read from"),
    Route("POST", "/v1/halt", "halt", "admin", "Kill switch: HALTED (or REDUCING)", HaltBody),
    Route("POST", "/v1/resume", "resume", "admin", "Back to ACTIVE", ResumeBody),
    Route("GET", "/v1/stream", "stream", "read", "WebSocket: order, tx and trading events"),
)  # fmt: skip

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"], "description": "The offending field"},
            },
        }
    },
}

_ERRORS = {
    "400": "Malformed JSON, unknown field, wrong type or value",
    "401": "Missing or unknown bearer token",
    "403": "The token's role may not do this",
    "404": "No such order",
    "409": "Not allowed in the order's state",
    "413": "Body larger than api.max_body_bytes",
    "422": "Refused by risk or policy (code and reason from the OMS)",
    "502": "The chain's node or a venue failed (its error code)",
    "503": "The daemon is draining (SIGTERM), or api.max_queued_orders are waiting to execute",
}


def openapi_document(version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for r in ROUTES:
        op: dict[str, Any] = {
            "operationId": r.handler,
            "summary": r.summary,
            "responses": {str(r.ok): {"description": "OK"}},
        }
        params = [
            {"name": p[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for p in r.path.split("/")
            if p.startswith("{")
        ]
        if params:
            op["parameters"] = params
        if r.role is not None:
            op["security"] = [{"bearer": []}]
            op["x-role"] = r.role
        if r.body is not None:
            name = r.body.__name__
            schemas[name] = r.body.model_json_schema(ref_template="#/components/schemas/{model}")
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            }
        for code, what in _ERRORS.items():
            if code in ("401", "403") and r.role is None:
                continue
            if code in ("400", "413") and r.body is None:
                continue
            op["responses"][code] = {
                "description": what,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "agent", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
