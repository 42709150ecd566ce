"""The API's pure rules: strict bodies -> stable error codes, role order, the document."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from agent.service.api import Api, ApiError, _pydantic_error
from agent.service.schema import ROLES, ROUTES, HaltBody, SubmitOrderBody, openapi_document

GOOD = b'{"client_order_id":"a","side":"buy","base":"WETH","quote":"USDC","size":"1.5"}'


def _code(raw: bytes) -> tuple[str, str | None]:
    with pytest.raises(PydanticValidationError) as e:
        SubmitOrderBody.model_validate_json(raw)
    err = _pydantic_error(e.value)
    assert err.status == 400 and err.message
    return err.code, err.field


def test_good_body() -> None:
    b = SubmitOrderBody.model_validate_json(GOOD)
    assert (b.size, b.max_slippage_bps, b.algorithm) == ("1.5", None, "market")


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b"{nope", "MALFORMED_JSON", None),
        (GOOD[:-1] + b',"x":1}', "UNKNOWN_FIELD", "x"),
        (GOOD.replace(b'"1.5"', b"1.5"), "WRONG_TYPE", "size"),
        (GOOD.replace(b'"1.5"', b'"1e400"'), "INVALID_VALUE", "size"),
        (GOOD.replace(b'"1.5"', b'"-1"'), "INVALID_VALUE", "size"),
        (GOOD.replace(b'"buy"', b'"hold"'), "WRONG_TYPE", "side"),
        (GOOD.replace(b'"client_order_id":"a",', b""), "MISSING_FIELD", "client_order_id"),
        (GOOD[:-1] + b',"max_slippage_bps":"30"}', "WRONG_TYPE", "max_slippage_bps"),
        (GOOD[:-1] + b',"max_slippage_bps":10001}', "INVALID_VALUE", "max_slippage_bps"),
        (b"[]", "WRONG_TYPE", None),
    ],
)
def test_bad_bodies_have_stable_codes(raw: bytes, code: str, field: str | None) -> None:
    assert _code(raw) == (code, field)


@given(st.binary(max_size=64))
def test_any_bytes_give_a_coded_400_or_a_valid_body(raw: bytes) -> None:
    try:
        HaltBody.model_validate_json(raw)
    except PydanticValidationError as e:
        err = _pydantic_error(e)
        assert err.status == 400 and err.code in {
            "MALFORMED_JSON", "UNKNOWN_FIELD", "WRONG_TYPE", "MISSING_FIELD", "INVALID_VALUE",
        }  # fmt: skip


def _api() -> Api:
    return Api(SimpleNamespace(), {"t-read": "read", "t-trade": "trade", "t-admin": "admin"}, 100)  # type: ignore[arg-type]


def _req(auth: str | None) -> Any:
    return SimpleNamespace(headers={} if auth is None else {"Authorization": auth})


@pytest.mark.parametrize("have", ROLES)
@pytest.mark.parametrize("need", ROLES)
def test_roles_include_the_lower_ones(have: str, need: str) -> None:
    api = _api()
    if ROLES.index(have) >= ROLES.index(need):
        assert api._role(_req(f"Bearer t-{have}"), need) == have
    else:
        with pytest.raises(ApiError) as e:
            api._role(_req(f"Bearer t-{have}"), need)
        assert (e.value.status, e.value.code) == (403, "AUTH_FORBIDDEN")


@pytest.mark.parametrize(
    ("auth", "code"),
    [(None, "AUTH_MISSING"), ("Bearer", "AUTH_MISSING"), ("Token t-admin", "AUTH_MISSING"),
     ("Bearer t-admi", "AUTH_INVALID"), ("Bearer t-admin2", "AUTH_INVALID")],
)  # fmt: skip
def test_missing_or_unknown_tokens(auth: str | None, code: str) -> None:
    with pytest.raises(ApiError) as e:
        _api()._role(_req(auth), "read")
    assert (e.value.status, e.value.code) == (401, code)


def test_document_describes_every_route() -> None:
    doc = openapi_document("x")
    for r in ROUTES:
        op = doc["paths"][r.path][r.method.lower()]
        assert op["operationId"] == r.handler
        assert op.get("x-role") == r.role
        assert ("requestBody" in op) == (r.body is not None)
        if r.role is not None:
            assert {"401", "403"} <= set(op["responses"])
        if r.body is not None:
            schema = doc["components"]["schemas"][r.body.__name__]
            assert schema["additionalProperties"] is False  # unknown fields are refused
    assert hasattr(Api, "submit_order")
    assert all(hasattr(Api, r.handler) for r in ROUTES)
