"""One signing policy, enforced off-chain before signing and on-chain by the Safe's PolicyModule.

Public API (for the OMS / signing path and the CLI):

- ``load_policy(path, manifest) -> Policy``             (agent.policy.resolve)
- ``evaluate(policy, call_or_batch, ctx) -> Decision``  (agent.policy.evaluator)
- ``PolicyCall(to, data, value, operation)``, ``PolicyContext(operator, chain_id, now, ...)``
- ``compile_policy(policy) -> ModuleConfig``, ``diff(current, desired, policy)``
- ``ModuleReader(rpc_url, module).config() / .allowance_states()``
- ``plan_apply(policy, rpc_url) -> ApplyPlan``
"""

from agent.policy.allowance import AllowanceState
from agent.policy.compiler import ModuleConfig, compile_policy, diff
from agent.policy.evaluator import PolicyCall, PolicyContext, evaluate
from agent.policy.model import Policy, Status
from agent.policy.resolve import load_policy, resolve
from agent.policy.schema import parse_policy_text

__all__ = [
    "AllowanceState",
    "ModuleConfig",
    "Policy",
    "PolicyCall",
    "PolicyContext",
    "Status",
    "compile_policy",
    "diff",
    "evaluate",
    "load_policy",
    "parse_policy_text",
    "resolve",
]
