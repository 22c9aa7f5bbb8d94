"""The `gateway` command line (API.md "Running").

Exit codes: 0 success, 1 a failed check or an unknown id, 2 usage or
configuration errors.
"""

from gateway.cli.main import main

__all__ = ["main"]
