"""Async JSON-RPC client for the hot path: one keep-alive HTTP connection, automatic batching.

web3.py's default HTTP provider builds a request through many middleware layers (6-9x a raw
keep-alive post here). This client posts pre-serialised bytes on ONE persistent keep-alive
connection (agent.chain.rpc_http: HTTP/1.1 POSTs and nothing else; aiohttp's client cost
~0.2 ms of Python per post, several times a loopback node's own answer time). When several coroutines call at once, the calls queued while a request is in
flight are sent together as one JSON-RPC batch, so concurrency costs one round trip per
batch, not per call; a lone call is sent as a plain request (no batch wrapper).

Every failure is typed (agent.errors):
  * RpcError            - the node answered with a JSON-RPC error object (``rpc_code``)
  * RpcResponseError    - the node answered with something that is not JSON-RPC (garbage,
                          truncated body, wrong id, missing result)
  * RpcUnavailableError - no answer (refused, reset, timed out, HTTP 5xx)
  * ChainIdMismatchError - ``connect()`` found a different chain than the config says
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from agent.chain.rpc_http import ConnectError, HttpPool, TruncatedError
from agent.errors import (
    ChainIdMismatchError,
    RpcError,
    RpcResponseError,
    RpcUnavailableError,
    ValidationError,
)

_std_dumps = json.JSONEncoder(separators=(",", ":")).encode

try:  # orjson is already in the tree (journal codec); fall back to the exact stdlib parser
    import orjson

    def _loads(b: bytes) -> Any:
        # orjson turns ints beyond 64 bits into floats; JSON-RPC quantities are hex strings,
        # so a big bare int only appears in garbage, which the stdlib parses exactly anyway.
        return orjson.loads(b)

    def _dumps(obj: Any) -> bytes:
        # ~10x the stdlib encoder on a batch of raw transactions; params holding an int
        # beyond 64 bits (orjson refuses those) take the exact stdlib path
        try:
            return orjson.dumps(obj)
        except TypeError:
            return _std_dumps(obj).encode()
except ImportError:  # pragma: no cover
    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return _std_dumps(obj).encode()


class _Env(msgspec.Struct):
    """One JSON-RPC answer with its result left as raw JSON: a batch of receipts is split
    into answers without building the fields nobody reads (``logsBloom``, ``logs``), then
    each result is decoded by its call's own type, or generically."""

    id: int | None = None
    result: msgspec.Raw = msgspec.Raw()  # empty: the member is absent
    error: Any = None


_ENV = msgspec.json.Decoder(_Env)
_ENVS = msgspec.json.Decoder(list[_Env])
_ANY = msgspec.json.Decoder()  # a result of no declared type (big ints stay exact ints)
_typed: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    dec = _typed.get(tp)
    if dec is None:
        dec = _typed[tp] = msgspec.json.Decoder(tp)
    return dec


def _snippet(b: bytes) -> str:
    t = b[:120].decode("utf-8", "replace")
    return t + ("..." if len(b) > 120 else "")


@dataclass(frozen=True, slots=True)
class RpcConfig:
    url: str
    expected_chain_id: int | None = None
    timeout: float = 10.0
    name: str = ""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValidationError(
                "rpc.url", f"{self.url!r} is not an http(s) URL", "e.g. http://127.0.0.1:8545"
            )
        if self.timeout <= 0:
            raise ValidationError(
                "rpc.timeout", f"{self.timeout} is not positive", "pass seconds > 0"
            )


class _Group:
    """The answers of one ``batch()``: one future for all of them, not one per call (a
    receipts poll asks hundreds). A node error for one call fills its slot; any other
    failure (transport, garbage) fails the whole group, as it failed every call."""

    __slots__ = ("fut", "left", "out")

    def __init__(self, n: int, fut: asyncio.Future[list[Any]]) -> None:
        self.out: list[Any] = [None] * n
        self.left = n
        self.fut = fut


class _Call:
    __slots__ = ("fut", "grp", "id", "idx", "method", "params", "typ")

    def __init__(
        self,
        id_: int,
        method: str,
        params: Sequence[Any],
        fut: asyncio.Future[Any] | None,
        grp: _Group | None = None,
        idx: int = 0,
        typ: Any = None,
    ) -> None:
        self.id = id_
        self.method = method
        self.params = params
        self.typ = typ  # a msgspec type the result is decoded (and validated) as; None: any
        # a lone call's own future, or the group's: answers land in grp.out[idx]
        self.fut: asyncio.Future[Any] = fut if grp is None else grp.fut  # type: ignore[assignment]
        self.grp = grp
        self.idx = idx

    def resolve(self, result: Any) -> None:
        g = self.grp
        if g is None:
            if not self.fut.done():  # the caller was cancelled meanwhile
                self.fut.set_result(result)
            return
        g.out[self.idx] = result
        g.left -= 1
        if g.left == 0 and not g.fut.done():
            g.fut.set_result(g.out)

    def fail(self, err: BaseException) -> None:
        if self.grp is not None and isinstance(err, RpcError):
            self.resolve(err)  # the node's answer to this call: its slot in the group
        elif not self.fut.done():
            self.fut.set_exception(err)


class RpcClient:
    """``async with RpcClient(url, expected_chain_id=...) as rpc: await rpc.call(...)``.

    ``connections`` (default 1) is how many keep-alive connections post at once. With one,
    posts leave in call order, which a sending account needs (its transactions must reach
    the node in nonce order). A client only for reads may use two: a batch larger than
    ``max_batch`` is then posted in parallel parts, so the node serves one part while the
    answer to another is decoded (a tracking pass asks hundreds of receipts at once)."""

    def __init__(
        self,
        url: str,
        *,
        expected_chain_id: int | None = None,
        timeout: float = 10.0,
        name: str = "",
        max_batch: int = 500,
        connections: int = 1,
    ) -> None:
        self.config = RpcConfig(url, expected_chain_id, timeout, name)
        if type(connections) is not int or connections < 1:
            raise ValidationError(
                "rpc.connections", f"{connections!r} is not a count of connections", "use 1 or 2"
            )
        if type(max_batch) is not int or max_batch < 1:
            raise ValidationError(
                "rpc.max_batch", f"{max_batch!r} is not a batch size", "use 1 or more, e.g. 500"
            )
        self._connections = connections
        self.url = url
        self.name = name or url
        self.chain_id: int | None = None
        self._max_batch = max_batch
        self._session: HttpPool | None = None
        self._ids = itertools.count(1)
        self._queue: list[_Call] = []
        self._drains = 0  # posting loops running (at most one per connection)
        self._drainers: set[asyncio.Task[None]] = set()
        self.requests_sent = 0  # HTTP posts, for tests and benchmarks (batching visible)

    # --- lifecycle ---------------------------------------------------------------------------
    async def connect(self) -> RpcClient:
        """Open the connection and check the chain id against the config."""
        if self._session is None:
            # limit: the connections kept alive; a request waits for one instead of opening
            # another socket (batching makes that wait cheap).
            self._session = HttpPool(self.url, limit=self._connections)
        got = int(await self.call("eth_chainId"), 16)
        exp = self.config.expected_chain_id
        if exp is not None and got != exp:
            await self.close()
            raise ChainIdMismatchError(
                f"chain_id: {self.name} reports chain id {got}, the config expects {exp}; "
                "point rpc.url at the right node or fix chain_id"
            )
        self.chain_id = got
        return self

    async def close(self) -> None:
        s, self._session = self._session, None
        if s is not None:
            await s.close()

    async def __aenter__(self) -> RpcClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- calls -------------------------------------------------------------------------------
    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One call; coalesced with concurrent ones into a batch while every connection is busy."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(next(self._ids), method, params, fut))
        if self._drains < self._connections:
            await self._drain(fut)
        return await fut

    async def batch(self, calls: Sequence[tuple[Any, ...]], typ: Any = None) -> list[Any]:
        """Several calls in one round trip. Each element is the result or the RpcError for
        that call (a node error for one call does not fail the others); transport and garbage
        errors raise. A call is ``(method, params)`` or ``(method, params, type)``: its result
        is then decoded straight from the JSON text as that msgspec type (e.g. a Struct of
        the receipt fields one needs), and an answer of another shape is an RpcResponseError.
        ``typ`` is the type for calls that name none."""
        if not calls:
            return []
        grp = _Group(len(calls), asyncio.get_running_loop().create_future())
        ids = self._ids
        self._queue.extend(
            [
                _Call(next(ids), c[0], c[1], None, grp, i, c[2] if len(c) > 2 else typ)
                for i, c in enumerate(calls)
            ]
        )
        free = self._connections - self._drains
        if free > 0:
            # more parts than one post: the other free connections post some in parallel
            for _ in range(min(free - 1, (len(self._queue) - 1) // self._max_batch)):
                self._drains += 1
                self._spawn_drain()
            await self._drain(grp.fut)
        return await grp.fut

    async def _drain(self, own: asyncio.Future[Any] | None = None, handoff: bool = False) -> None:
        """Send queued calls until the caller's own call is answered; if others are still
        queued then, a task takes over so no caller waits for strangers' round trips.
        ``handoff``: this loop's connection slot was counted by whoever started it."""
        if not handoff:
            self._drains += 1
        try:
            while self._queue:
                items = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    await self._send(items)
                except Exception as e:
                    for c in items:
                        c.fail(e)
                except BaseException:  # cancelled mid-request: the answer is lost for all
                    err = RpcUnavailableError(f"{self.name}: request cancelled before the answer")
                    for c in items:
                        c.fail(err)
                        if c.fut.done() and not c.fut.cancelled():
                            c.fut.exception()  # the cancelled caller will not read it
                    raise
                if own is not None and own.done() and self._queue:
                    break
        finally:
            if self._queue:  # the slot passes to a task that posts what is left
                self._spawn_drain()
            else:
                self._drains -= 1

    def _spawn_drain(self) -> None:
        """A posting loop for a slot already counted in ``_drains``."""
        task = asyncio.get_running_loop().create_task(self._drain(handoff=True))
        self._drainers.add(task)  # a reference, so the task is not collected mid-post
        task.add_done_callback(self._drainers.discard)

    async def _post(self, body: bytes) -> bytes:
        if self._session is None:
            raise RpcUnavailableError(f"{self.name}: client is not connected; call connect() first")
        try:
            async with asyncio.timeout(self.config.timeout):
                status, raw = await self._session.post(body)
        except TruncatedError as e:  # body cut short (Content-Length lie, reset)
            raise RpcResponseError(f"{self.name}: truncated response ({e})") from e
        except (ConnectError, TimeoutError, OSError) as e:
            raise RpcUnavailableError(f"{self.name}: no answer ({type(e).__name__}: {e})") from e
        finally:
            self.requests_sent += 1
        if status >= 500 and not raw.startswith((b"{", b"[")):
            raise RpcUnavailableError(f"{self.name}: HTTP {status}: {_snippet(raw)}")
        if status != 200 and not raw.startswith((b"{", b"[")):
            raise RpcResponseError(f"{self.name}: HTTP {status}: {_snippet(raw)}")
        return raw

    async def _send(self, items: list[_Call]) -> None:
        if len(items) == 1:
            c = items[0]
            body = _dumps({"jsonrpc": "2.0", "id": c.id, "method": c.method, "params": c.params})
            raw = await self._post(body)
            try:
                env = _ENV.decode(raw)
            except msgspec.MsgspecError:
                pass  # not a plain answer object: the generic path below names what it is
            else:
                self._resolve_env(c, env, raw)
                return
            msg = self._parse(raw)
            if not isinstance(msg, dict):
                raise RpcResponseError(
                    f"{self.name}: {c.method}: expected a JSON object, got {_snippet(raw)}"
                )
            self._resolve(c, msg, raw)
            return
        body = _dumps(
            [{"jsonrpc": "2.0", "id": c.id, "method": c.method, "params": c.params} for c in items]
        )
        raw = await self._post(body)
        try:
            envs = _ENVS.decode(raw)
        except msgspec.MsgspecError:
            pass  # not an array of answer objects: the generic path below sorts it out
        else:
            by_env = {e.id: e for e in envs}
            for c in items:
                e = by_env.get(c.id)
                if e is None:
                    c.fail(self._no_answer(c))
                else:
                    self._resolve_env(c, e, raw)
            return
        msg = self._parse(raw)
        if isinstance(msg, dict) and "error" in msg and msg.get("id") is None:
            # some nodes answer a whole batch with one error (batch too large, batching off)
            err = self._error(items[0].method, msg["error"])
            for c in items:
                c.fail(err)
            return
        if not isinstance(msg, list):
            raise RpcResponseError(
                f"{self.name}: batch answer is not a JSON array: {_snippet(raw)}"
            )
        by_id = {m.get("id"): m for m in msg if isinstance(m, dict)}
        for c in items:
            m = by_id.get(c.id)
            if m is None:
                c.fail(self._no_answer(c))
            else:
                self._resolve(c, m, raw)

    def _no_answer(self, c: _Call) -> RpcResponseError:
        return RpcResponseError(
            f"{self.name}: {c.method}: the batch answer has no response for id {c.id}"
        )

    def _answered(self, c: _Call, got_id: Any, error: Any, has_result: bool, raw: bytes) -> bool:
        """Fail ``c`` (and return False) unless the answer is its own and carries a result."""
        if got_id != c.id:
            msg = f"{self.name}: {c.method}: answer id {got_id!r} != request id {c.id}"
            c.fail(RpcResponseError(msg))
        elif error is not None:
            c.fail(self._error(c.method, error))
        elif not has_result:
            c.fail(RpcResponseError(f"{self.name}: {c.method}: no result in {_snippet(raw)}"))
        else:
            return True
        return False

    def _resolve_env(self, c: _Call, e: _Env, raw: bytes) -> None:
        if not self._answered(c, e.id, e.error, bool(e.result), raw):
            return
        if c.typ is None:
            c.resolve(_ANY.decode(e.result))
            return
        try:
            c.resolve(_decoder(c.typ).decode(e.result))
        except msgspec.MsgspecError as err:
            c.fail(self._bad_shape(c, err, bytes(e.result)))

    def _parse(self, raw: bytes) -> Any:
        try:
            return _loads(raw)
        except ValueError as e:
            raise RpcResponseError(f"{self.name}: answer is not JSON ({e}): {_snippet(raw)}") from e

    def _error(self, method: str, err: Any) -> RpcError:
        if not isinstance(err, dict):
            return RpcError(f"{method}: node error {err!r}")
        return RpcError(
            f"{method}: {err.get('message')}", rpc_code=err.get("code"), data=err.get("data")
        )

    def _resolve(self, c: _Call, m: dict[str, Any], raw: bytes) -> None:
        if not self._answered(c, m.get("id"), m.get("error"), "result" in m, raw):
            return
        if c.typ is None:
            c.resolve(m["result"])
            return
        try:
            c.resolve(msgspec.convert(m["result"], c.typ))
        except msgspec.MsgspecError as err:
            c.fail(self._bad_shape(c, err, raw))

    def _bad_shape(self, c: _Call, err: Exception, raw: bytes) -> RpcResponseError:
        return RpcResponseError(
            f"{self.name}: {c.method}({', '.join(map(str, c.params))[:80]}): unusable answer "
            f"({err}): {_snippet(raw)}"
        )

    # --- typed helpers (hex quantities decoded here, once) ----------------------------------
    async def block_number(self) -> int:
        return _qty(await self.call("eth_blockNumber"), "eth_blockNumber")

    async def get_transaction_count(self, address: str, block: str = "latest") -> int:
        return _qty(
            await self.call("eth_getTransactionCount", [address, block]), "eth_getTransactionCount"
        )

    async def send_raw_transaction(self, raw: bytes) -> str:
        return await self.call("eth_sendRawTransaction", ["0x" + raw.hex()])

    async def get_transaction_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return await self.call("eth_getTransactionReceipt", [tx_hash])

    async def get_transaction(self, tx_hash: str) -> dict[str, Any] | None:
        return await self.call("eth_getTransactionByHash", [tx_hash])

    async def get_block(
        self, block: str | int = "latest", full: bool = False
    ) -> dict[str, Any] | None:
        tag = hex(block) if isinstance(block, int) else block
        return await self.call("eth_getBlockByNumber", [tag, full])

    async def fee_history(
        self, blocks: int, newest: str = "latest", percentiles: Sequence[float] = (50,)
    ) -> dict[str, Any]:
        return await self.call("eth_feeHistory", [hex(blocks), newest, list(percentiles)])

    async def get_balance(self, address: str, block: str = "latest") -> int:
        return _qty(await self.call("eth_getBalance", [address, block]), "eth_getBalance")

    async def eth_call(
        self, to: str, data: bytes, block: str | int = "latest", *, sender: str | None = None
    ) -> bytes:
        """A view call's return bytes (the one view-call helper; a revert raises RpcError)."""
        tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
        if sender:
            tx["from"] = sender
        tag = hex(block) if isinstance(block, int) else block
        return bytes.fromhex((await self.call("eth_call", [tx, tag]))[2:])


def _qty(v: Any, what: str) -> int:
    """Decode a hex quantity, refusing anything else as a bad response."""
    if isinstance(v, str) and v.startswith("0x"):
        try:
            return int(v, 16)
        except ValueError:
            pass
    raise RpcResponseError(f"{what}: expected a hex quantity, got {v!r}")


qty = _qty
