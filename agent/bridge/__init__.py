"""The L1-L2 bridge, agent side: message hashing and relayer attestations, the relayer
process, deployment, and typed errors. The venue adapter lives in agent.venues.bridge.

See docs/bridge.md.
"""
