"""`gateway sandbox`: an Authorize.Net-compatible server (development and tests only).

The simulator's rules and ledger code behind Authorize.Net's wire, on a database
of its own, so the gateway learns its state only over HTTP, as with Authorize.Net.
"""
