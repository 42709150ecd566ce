"""The agent as a long-running service: config (agent.toml), the daemon, its API and metrics."""
