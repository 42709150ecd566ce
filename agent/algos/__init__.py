"""Execution algorithms and the multi-leg executor."""
