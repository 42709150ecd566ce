"""The co-signer service: re-checks an unsigned module call and co-signs it, or denies it.

It trusts nothing the agent says about the call. From the raw ``to/value/data/operation``
it decodes the call (a MultiSend batch into its inner calls, with the module's strictness),
re-evaluates its own copy of the policy through agent.policy.guard.PolicyGuard (scopes,
conditions, oracle price bounds, the value-guard pre-check, off-chain rules), then signs the
EIP-712 digest and simulates ``executeCosigned`` with that signature from the operator on
its own node (agent.chain.simulate: exactly the transaction the agent will send). The
signature leaves the process only when the simulation passes; a Deny carries the policy's
code. Only operators of roles whose ``requires_cosigner`` is this key are served.

Allowances: the guard spends its local copy on every co-signature it gives (seeded from the
module at start), so a co-signature that is never used makes the co-signer stricter, never
looser, until it restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from agent.chain.rpc import RpcClient
from agent.chain.rpc_block import BlockReads
from agent.chain.simulate import CallRequest, SimulationUnavailableError, check_bounded, simulate
from agent.deploy.manifest import Manifest
from agent.errors import AgentError, ConfigError
from agent.model.decisions import Deny
from agent.policy.evaluator import _Denied, decode_batch
from agent.policy.model import Status
from agent.policy.resolve import load_policy
from agent.signing.cosigner.config import CosignerConfig
from agent.signing.cosigner.wire import (
    BadRequest,
    Cosignature,
    CosignRequest,
    checksum,
    cosign_digest,
    execute_cosigned_calldata,
    parse_request,
)
from agent.signing.local import LocalSigner
from agent.wallet.multisend import Call

log = logging.getLogger("agent.cosigner")


@dataclass(frozen=True, slots=True)
class Signed:
    cosignature: Cosignature
    digest: bytes


class CosignerService:
    """``await service.handle(json_obj) -> (http_status, answer)``; ``guards`` maps each
    served operator (lower-case) to its PolicyGuard."""

    def __init__(
        self,
        signer: LocalSigner,
        *,
        rpc: RpcClient,
        policy: Any,
        guards: dict[str, Any],
        deadline_seconds: int = 120,
        simulation: str = "trace",
        clock: Any = time.time,
        describe: Any = None,
        reads: BlockReads | None = None,
    ) -> None:
        """``reads``: the guards' view of ``rpc`` (agent.chain.rpc_block.BlockReads): each
        request then decides and simulates on one head, its reads cached per block. None:
        every read at "latest" (a guard built on ``rpc`` itself)."""
        self.signer, self.rpc, self.policy, self.guards = signer, rpc, policy, guards
        self.reads = reads
        self.module = to_checksum_address(policy.module)
        self.chain_id = policy.chain_id
        self.safe = policy.safe
        self.deadline_seconds, self.simulation, self.clock = deadline_seconds, simulation, clock
        self.describe = (
            describe  # (calls) -> lines, for the log (item: what you sign is what you see)
        )
        self.last_lines: list[str] = []

    async def handle(self, obj: Any) -> tuple[int, dict[str, Any]]:
        try:
            req = parse_request(obj)
        except BadRequest as e:
            return 400, _denied("COSIGNER_BAD_REQUEST", str(e), f"request.{e.field}")
        got = await self.cosign(req)
        if isinstance(got, Deny):
            log.info("co-signer DENY %s: %s", got.code, got.reason)
            return 403, _denied(got.code, got.reason, got.rule)
        log.info(
            "co-signer SIGNED nonce 0x%x deadline %d",
            got.cosignature.nonce,
            got.cosignature.deadline,
        )
        return 200, got.cosignature.to_json(got.digest)

    async def cosign(self, req: CosignRequest) -> Signed | Deny:
        if req.chain_id != self.chain_id:
            return Deny(
                "COSIGNER_WRONG_CHAIN",
                f"chain {req.chain_id} is not the co-signer's chain {self.chain_id}",
                "request.chain_id",
            )
        if req.module != self.module:
            return Deny(
                "COSIGNER_WRONG_MODULE",
                f"module {req.module} is not the co-signer's module {self.module}",
                "request.module",
            )
        guard = self.guards.get(req.operator.lower())
        if guard is None:
            return Deny(
                Status.NOT_OPERATOR.code,
                f"{req.operator} is no operator of a role that requires this co-signer "
                f"({self.signer.address})",
                "request.operator",
            )
        calls = self._decode(req)
        if isinstance(calls, Deny):
            return calls
        if self.describe is not None and log.isEnabledFor(logging.INFO):  # not under --quiet
            self.last_lines = self.describe(calls)
            for line in self.last_lines:
                log.info("co-sign request: %s", line)
        # One block for the whole decision: the policy's reads (cached per block) and the
        # simulation below run on the head read here, by hash, so nothing is decided on
        # state older than what is simulated. The policy decides before anything is signed.
        head = await self.reads.head() if self.reads is not None else None
        if head is None:
            decision = await guard.check(calls)
        else:
            with self.reads.pinned(head):
                decision = await guard.check(calls)
        if not decision.allowed:
            return decision  # type: ignore[return-value]
        nonce = secrets.randbits(256)  # unordered: concurrent co-signatures never collide
        now = int(self.clock())
        deadline = now + self.deadline_seconds
        c = req.call
        digest = cosign_digest(
            module=self.module, chain_id=self.chain_id, to=c.to, value=c.value, data=c.data,
            operation=c.operation, nonce=nonce, deadline=deadline,
        )  # fmt: skip
        sig = self.signer.sign_digest(digest)
        tx = CallRequest(
            req.operator, self.module, execute_cosigned_calldata(c, nonce, deadline, sig)
        )
        block: Any = "latest" if head is None else head.tag
        try:
            # the pinned block's state at the time it is signed (as the policy judged it)
            sim = await simulate(
                self.rpc,
                tx,
                self.safe,
                block=block,
                mode=self.simulation,
                at_time=now,  # type: ignore[arg-type]
            )
        except SimulationUnavailableError as e:
            return Deny(e.code, e.message, "simulate")
        if not sim.ok:
            return await self._revert_deny(tx, sim.error, block, now)
        checked = check_bounded(sim, calls)
        if not checked.allowed:
            return checked  # type: ignore[return-value]
        return Signed(Cosignature(self.signer.address, nonce, deadline, sig), digest)

    async def _revert_deny(self, tx: CallRequest, error: str | None, block: Any, now: int) -> Deny:
        """The module's own refusal, by its status code (the revert data of an eth_call of the
        same transaction at the same block and time); any other revert is
        SIMULATION_REVERTED."""
        from agent.errors import RpcError
        from agent.policy.onchain import decode_violation

        try:
            await self.rpc.call("eth_call", [tx.to_rpc(), block, {}, {"time": hex(now)}])
        except RpcError as e:
            d = e.data.get("data") if isinstance(e.data, dict) else e.data
            got = decode_violation(d) if isinstance(d, str) and d.startswith("0x") else None
            if got is not None:
                st, word = got
                return Deny(
                    st.code,
                    f"the module refuses executeCosigned in simulation: {st.name} "
                    f"(word 0x{word.hex()})",
                    "simulate",
                )
        return Deny(
            "SIMULATION_REVERTED", f"executeCosigned reverts in simulation: {error}", "simulate"
        )

    def _decode(self, req: CosignRequest) -> list[Call] | Deny:
        c = req.call
        if c.to == self.module:
            return Deny(
                Status.FUNCTION_NOT_ALLOWED.code, "the module is never a target", "request.to"
            )
        if c.operation == 0:
            return [Call(c.to, c.data, c.value)]
        ms = self.policy.multisend
        if c.operation != 1 or not ms or c.to != checksum(ms):
            return Deny(
                Status.DELEGATECALL_NOT_ALLOWED.code,
                f"operation {c.operation} to {c.to}: only a call, or a delegatecall to "
                "MultiSendCallOnly, is co-signed",
                "request.operation",
            )
        if c.value:
            return Deny(
                Status.VALUE_TOO_HIGH.code,
                "a MultiSend delegatecall carries no value",
                "request.value",
            )
        try:
            return [Call(checksum(p.to), p.data, p.value) for p in decode_batch(c.data)]
        except _Denied as e:
            return e.d


def _denied(code: str, reason: str, rule: str) -> dict[str, Any]:
    return {"status": "denied", "code": code, "reason": reason, "rule": rule}


async def build_service(cfg: CosignerConfig, env: dict[str, str] | None = None) -> CosignerService:
    """The service from its configuration: key from ``cfg.key_env``, policy + manifest, one
    PolicyGuard (oracle prices, chain readings) per operator of a role this key co-signs."""
    from agent.execution.guarded import policy_guard
    from agent.policy.explain import describe_calls

    e = os.environ if env is None else env
    if not e.get(cfg.key_env):
        raise ConfigError("key_env", f"${cfg.key_env} is not set", "export the co-signer's own key")
    try:
        signer = LocalSigner(e[cfg.key_env])
    except AgentError as err:
        raise ConfigError("key_env", f"${cfg.key_env}: {err}", "export a 0x + 64 hex key") from None
    manifest = Manifest.load(cfg.manifest)
    policy = load_policy(cfg.policy, manifest)
    if not policy.module:
        raise ConfigError("policy", f"{cfg.policy} names no module", 'add module = "0x..." to it')
    if cfg.module and to_checksum_address(cfg.module) != to_checksum_address(policy.module):
        raise ConfigError(
            "module", f"{cfg.module} is not the policy's module {policy.module}", "use one module"
        )
    ops = [
        op for op, rid in policy.operators.items()
        if (policy.roles[rid].cosigner or "").lower() == signer.address.lower()
    ]  # fmt: skip
    if not ops:
        raise ConfigError(
            "policy",
            f"no role in {cfg.policy} requires this co-signer ({signer.address})",
            f'set requires_cosigner = "{signer.address}" on the role it guards',
        )
    rpc = await RpcClient(cfg.rpc_url, expected_chain_id=policy.chain_id, name="cosigner").connect()
    reads = BlockReads(rpc)  # the guards read through it: pinned to each request's head
    guards = {
        op: policy_guard(
            cfg.policy, manifest, rpc=reads, safe=policy.safe, operator=op, rpc_url=cfg.rpc_url
        )
        for op in ops
    }
    return CosignerService(
        signer, rpc=rpc, policy=policy, guards=guards, deadline_seconds=cfg.deadline_seconds,
        simulation=cfg.simulation, describe=lambda calls: describe_calls(policy, calls),
        reads=reads,
    )  # fmt: skip


def http_app(service: CosignerService) -> Any:
    """aiohttp application: POST /v1/cosign, GET /v1/health."""
    from aiohttp import web

    async def cosign(request: web.Request) -> web.Response:
        try:
            obj = await request.json()
        except ValueError:
            return web.json_response(
                _denied("COSIGNER_BAD_REQUEST", "body: is not JSON; POST a JSON object", "request"),
                status=400,
            )
        status, answer = await service.handle(obj)
        return web.json_response(answer, status=status)

    async def health(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "cosigner": service.signer.address,
                "module": service.module,
                "chain_id": service.chain_id,
            }
        )

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/v1/cosign", cosign)
    app.router.add_get("/v1/health", health)
    return app
