"""Venue adapters: one module per venue kind, all conforming to ``agent.venues.base``."""
