"""Benchmarks: ``scripts/bench [SUITE...]`` prints one JSON object with every metric."""
