"""Execution: take one intent through gate, routing, building, signing, sending, journaling."""
