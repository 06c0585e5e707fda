"""Benchmarks: `python -m bench.NAME [--quick]`; each prints one JSON object as its last line."""
