"""Benchmarks run from a checkout (`make bench-billing`)."""
