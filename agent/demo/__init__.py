"""The demo: from nothing to executed, journaled, reported trades (scripts/demo)."""
