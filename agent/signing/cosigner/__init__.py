"""The policy co-signer: a second key, in its own process, that signs a module call only after
re-checking it against its own copy of the policy and simulating it (docs/signing.md).

- :mod:`.wire`: the EIP-712 digest the PolicyModule verifies, the request/answer JSON;
- :mod:`.service`: ``agent cosigner run`` (aiohttp on loopback or a private network);
- :mod:`.client`: the agent side, called by agent.wallet.executor for a co-signed role.
"""
