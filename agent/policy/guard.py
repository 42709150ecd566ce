"""The signing policy in the signing path: a pre-sign check for the module executor.

:class:`PolicyGuard` implements ``agent.wallet.executor.PreSignCheck``: the executor hands it
the exact calls the Safe will make, before anything is signed, and a Deny stops it (it raises
``PolicyDeniedError(code, reason, rule)``, which the OMS records as ``OrderDenied``). One
call is checked as a call; several as the MultiSendCallOnly batch the executor sends, each
inner call as if sent alone, in order, so a batch that spends an allowance twice is judged
on the balance left after the first spend, as on-chain.

Besides the evaluator's rules, the guard refuses calldata whose length cannot be the ABI
encoding (abis/) of the function it names, and it supplies the context the pure evaluator
needs: the time (``clock``), reference prices for the slippage rule and the second-signer
notional (``prices``; a needed price that is missing denies), and the module's allowance
balances, seeded from the chain and then spent locally after each allowed check exactly as
the module will spend them.

Usage (the composition root wires it; the executor calls ``check``)::

    from agent.policy.guard import PolicyGuard, static_prices

    guard = PolicyGuard.from_file(
        "policy.toml", manifest, safe=safe, operator=signer.address,
        chain_id=manifest.chain_id, prices=static_prices({"WETH": 3000, "USDC": 1}),
        rpc_url=rpc_url,  # seeds allowance balances and the pause flag from the module
    )
    executor = ModuleExecutor(rpc, signer, module=module, chain_id=..., journal=..., guard=guard)

``prices`` is any ``async (base_symbol, quote_symbol) -> Decimal | None``: the price of one
``base`` in ``quote``; the guard asks for ``(symbol, "USD")``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from agent.deploy.manifest import Manifest
from agent.errors import ValidationError
from agent.model.decisions import Decision, Deny
from agent.policy.abis import lookup
from agent.policy.allowance import AllowanceState
from agent.policy.checkers import FeedRead
from agent.policy.evaluator import (
    PolicyCall,
    PolicyContext,
    _read_token,
    _word,
    evaluate_spending,
)
from agent.policy.model import Op, Policy, Rule, Status
from agent.policy.prices import USD, PriceSource, static_prices
from agent.policy.resolve import load_policy
from agent.wallet.multisend import Call

__all__ = ["PolicyGuard", "PriceSource", "static_prices"]

Clock = Callable[[], float]
_ZERO_SEL = b"\x00" * 4


class PolicyGuard:
    """``await guard.check(calls) -> Allow | Deny`` on the calls the Safe will make."""

    def __init__(
        self,
        policy: Policy,
        *,
        operator: str,
        safe: str,
        chain_id: int,
        prices: PriceSource,
        clock: Clock = time.time,
        allowances: Mapping[int, AllowanceState] | None = None,
        paused: bool = False,
        chain: Any = None,
    ) -> None:
        if to_checksum_address(safe) != to_checksum_address(policy.safe):
            raise ValidationError(
                "safe",
                f"{safe} is not the Safe of policy {policy.name!r} ({policy.safe})",
                "load the policy written for this Safe",
            )
        if chain_id != policy.chain_id:
            raise ValidationError(
                "chain_id",
                f"chain {chain_id} is not the policy's chain {policy.chain_id}",
                "load the policy with this chain's manifest",
            )
        role_id = policy.operators.get(operator.lower())
        if role_id is None:
            raise ValidationError(
                "operator",
                f"{operator} has no role in policy {policy.name!r}",
                "add it to a role's operators and apply the policy",
            )
        self.policy = policy
        self.operator = operator
        self.chain_id = chain_id
        self.prices = prices
        self.clock = clock
        self.role = policy.roles[role_id]
        self.allowances: dict[int, AllowanceState] = dict(allowances or {})
        self.paused = paused
        # agent.policy.onchain.ChainState: feeds, the value-guard window, balances, series,
        # nonces, withdrawals read at each check. None: the oracle-priced rules are priced
        # from ``prices`` (tests, paper trading) and the value-guard pre-check is skipped.
        self.chain = chain
        self._shape_cache: dict[tuple[str, bytes], tuple[Rule | None, Any]] = {}

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        manifest: Manifest,
        *,
        safe: str,
        operator: str,
        chain_id: int,
        prices: PriceSource,
        clock: Clock = time.time,
        rpc_url: str | None = None,
        rpc: Any = None,
    ) -> PolicyGuard:
        """Load ``path`` against ``manifest``; with ``rpc_url`` (and a module named in the
        policy) seed allowance balances and the pause flag from the module on chain. With
        ``rpc`` (an agent.chain.rpc.RpcClient; default: the one of ``prices`` when it is
        oracle-backed) every check reads the feeds, the value-guard window and the rest of
        what the oracle-priced rules need (:class:`agent.policy.onchain.ChainState`)."""
        from agent.policy.onchain import ChainState

        policy = load_policy(path, manifest)
        rpc = rpc if rpc is not None else getattr(prices, "rpc", None)
        guard = cls(
            policy,
            operator=operator,
            safe=safe,
            chain_id=chain_id,
            prices=prices,
            clock=clock,
            chain=ChainState(rpc, policy) if rpc is not None and rpc_url is not None else None,
        )
        if rpc_url is not None:
            guard.sync_from_chain(rpc_url)
        return guard

    def sync_from_chain(self, rpc_url: str) -> None:
        """Replace the local allowance balances and pause flag by the module's (blocking
        eth_calls: call at start, or after a transaction that was denied on-chain)."""
        from agent.policy.onchain import ModuleReader

        if not self.policy.module:
            return
        reader = ModuleReader(rpc_url, self.policy.module)
        self.allowances = reader.allowance_states()
        self.paused = reader.paused()

    # ------------------------------------------------------------------------- check
    async def check(
        self, calls: Sequence[Any], deltas: Mapping[str, int] | None = None
    ) -> Decision:
        """``deltas``: the expected changes of the Safe's balances (lower-case token -> signed
        base units, e.g. from a simulation) for the value-guard pre-check; without them it
        assumes the worst case the calldata allows."""
        prepared = await self._prepare(calls)
        if isinstance(prepared, Deny):
            return prepared
        subject, ctx = prepared
        if deltas is not None:
            from dataclasses import replace

            ctx = replace(ctx, deltas=dict(deltas))
        # No await from here to the assignment: concurrent checks spend one balance in turn.
        decision, after = evaluate_spending(self.policy, subject, ctx)
        if decision.allowed:
            self.allowances = after
        return decision

    async def explain(self, calls: Sequence[Any]) -> list[str]:
        """What :meth:`check` would decide, per call and condition, for people (spends
        nothing). A batch is shown as the MultiSend delegatecall the executor sends."""
        from agent.policy.explain import explain_call
        from agent.wallet.multisend import multisend_calldata

        prepared = await self._prepare(calls)
        if isinstance(prepared, Deny):
            return [f"decision: DENY {prepared.code}: {prepared.reason}  [rule: {prepared.rule}]"]
        subject, ctx = prepared
        if isinstance(subject, list):
            wrapped = [Call(c.to, c.data, c.value) for c in subject]
            subject = PolicyCall(self.policy.multisend or "", multisend_calldata(wrapped), 0, 1)
        return explain_call(self.policy, subject, ctx)

    async def _prepare(
        self, calls: Sequence[Any]
    ) -> Deny | tuple[PolicyCall | list[PolicyCall], PolicyContext]:
        """The evaluator's subject (a call, or the batch) and its context; or a Deny from the
        guard's own checks (nothing to sign, ABI shape, no MultiSendCallOnly)."""
        if not calls:
            return Deny(Status.MALFORMED.code, "nothing to sign: no calls", "guard")
        pcs = [PolicyCall(c.to, bytes(c.data), int(getattr(c, "value", 0))) for c in calls]
        rules: list[Rule | None] = []
        for c in pcs:
            rule, bad = self._shape(c)
            if bad is not None:
                return bad
            rules.append(rule)
        if len(pcs) > 1 and not self.policy.multisend:
            return Deny(
                Status.DELEGATECALL_NOT_ALLOWED.code,
                "a batch needs MultiSendCallOnly, which the manifest does not name",
                "multisend",
            )
        prices, notional = await self._context_prices(pcs, rules)
        now = int(self.clock())
        if self.chain is not None:
            view = await self.chain.read(pcs)
            paused = getattr(self.chain, "paused", None)  # read in the same batch
            if paused is not None:
                self.paused = paused
        else:
            view = {"feeds": await self._feeds_from_prices(now)}
        ctx = PolicyContext(
            operator=self.operator, chain_id=self.chain_id, now=now,
            allowances=self.allowances, prices_usd=prices, notional_usd=notional,
            paused=self.paused, **view,
        )  # fmt: skip
        return (pcs[0] if len(pcs) == 1 else pcs), ctx

    async def _feeds_from_prices(self, now: int) -> dict[str, FeedRead | None]:
        """Feed readings made of the reference prices, as if just updated (no chain)."""
        out: dict[str, FeedRead | None] = {}
        for token, o in self.policy.oracles.items():
            p = await self.prices(o.symbol, USD)
            if p is not None and p > 0:
                out[token] = FeedRead(int(p.scaleb(o.decimals)), now, o.decimals)
        return out

    def _shape(self, c: PolicyCall) -> tuple[Rule | None, Deny | None]:
        """The role's rule for the call (or None) and a Deny when the calldata cannot be
        the ABI encoding of the function it names; cached per (target, selector)."""
        sel = c.data[:4] if len(c.data) >= 4 else _ZERO_SEL
        key = (c.to.lower(), sel)
        hit = self._shape_cache.get(key)
        if hit is None:
            rule = self.policy.rules.get((self.role.id, key[0], sel))
            hit = (rule, lookup(self.policy.abis.get(key[0]), sel))
            self._shape_cache[key] = hit
        rule, fn = hit
        if fn is not None and not fn.fits(c.data):
            return rule, Deny(
                Status.MALFORMED.code,
                f"{len(c.data)} bytes of calldata cannot encode {self.policy.name_of(c.to)}.{fn.sig.canonical}",
                f"abis/{fn.contract}.json",
            )
        return rule, None

    async def _context_prices(
        self, calls: list[PolicyCall], rules: list[Rule | None]
    ) -> tuple[dict[str, Decimal], Decimal | None]:
        """USD prices of the tokens the slippage rule and the second-signer limit need, and
        the batch's notional (None when a needed price is missing: the evaluator denies)."""
        want_slip = self.role.max_slippage_bps is not None
        want_notional = self.role.second_signer_above_usd is not None
        if not (want_slip or want_notional):
            return {}, None
        prices: dict[str, Decimal] = {}
        missing: set[str] = set()

        async def usd(token: str) -> Decimal | None:
            if token in prices:
                return prices[token]
            if token in missing:
                return None
            sym = self.policy.symbols.get(token)
            p = await self.prices(sym, USD) if sym else None
            if p is None or p <= 0:
                missing.add(token)
                return None
            prices[token] = p
            return p

        notional: Decimal | None = Decimal(0)
        for c, rule in zip(calls, rules, strict=True):
            if rule is None:
                continue
            moved: tuple[str, int] | None = None
            if rule.slippage is not None:
                s = rule.slippage
                if rule.checker is not None and not want_notional:
                    continue  # the oracle-priced checker bounds it, from the feeds
                try:
                    t_in = _read_token(c.data, s.token_in, s.token_in_end)
                    t_out = _read_token(c.data, s.token_out, s.token_out_end)
                except (IndexError, ValueError):
                    continue  # malformed: the evaluator denies it on its own terms
                if want_slip:
                    await usd(t_in)
                    await usd(t_out)
                # what leaves the Safe: the exact amount in, or the maximum in
                moved = (t_in, _word(c.data, (s.min_out if s.exact_out else s.amount_in).word))
            else:
                for cond in rule.conditions:
                    if cond.op == Op.ALLOWANCE:
                        a = self.policy.allowances[cond.aux]
                        moved = (a.token.lower(), _word(c.data, cond.word))
                        break
            if want_notional and moved is not None and notional is not None:
                token, amount = moved
                p = await usd(token)
                if p is None:
                    notional = None
                else:
                    dec = self.policy.decimals.get(token, 18)
                    notional += p * Decimal(amount).scaleb(-dec)
        return prices, notional if want_notional else None
