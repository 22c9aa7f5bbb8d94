"""The chaos and fault-injection suite: real processes, real kills, a ledger audit.

Run by hand with `make chaos` (1,000 operations) or `python -m ops.chaos --help`;
`make test` runs a short mode through `tests/ops/test_chaos.py`.
"""
