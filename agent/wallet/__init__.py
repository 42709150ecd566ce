"""Safe wallets: SafeTx hashing and owner signatures, MultiSendCallOnly batches, deployment
of Safe proxies and the agent module, and module execution calldata."""
