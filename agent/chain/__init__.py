"""Chains: devnets (anvil processes), JSON-RPC, nonces, fees, transaction tracking."""
