"""Benchmarks: scripts that print timed figures (ratios against a baseline run in the same process)."""
