"""A small synchronous client of the daemon's API, for the CLI's ``--api URL`` options.

The token comes from an environment variable (never a flag: flags end up in shell history
and ``ps``). An API error becomes an AgentError with the server's stable code, so the CLI
prints it as one line like any other.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from agent.errors import AgentError, ValidationError

DEFAULT_TOKEN_ENV = "AGENT_API_TOKEN"


class ApiCallError(AgentError):
    code = "API_ERROR"
    status = 0  # the HTTP status the daemon answered (0: no answer); 422 is a denial


def call(
    base_url: str, method: str, path: str, body: Any = None, *, token_env: str = DEFAULT_TOKEN_ENV
) -> Any:
    token = os.environ.get(token_env, "")
    if not token:
        raise ValidationError("--token-env", f"{token_env} is not set", f"export {token_env}=...")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base_url.rstrip("/") + path, data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            err = json.loads(e.read())["error"]
        except (ValueError, KeyError, TypeError):
            raise ApiCallError(f"{base_url}{path}: HTTP {e.code}") from None
        field = f" ({err['field']})" if err.get("field") else ""
        failure = ApiCallError(f"{err['message']}{field}", code=err["code"])
        failure.status = e.code
        raise failure from None
    except urllib.error.URLError as e:
        raise ApiCallError(
            f"{base_url}: no answer ({e.reason}); is `agent run` up?", code="API_UNREACHABLE"
        ) from None
