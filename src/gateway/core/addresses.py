"""Where this gateway can be reached from the same machine, for what posts to it
(the simulator's and the sandbox's webhooks)."""

from __future__ import annotations

from gateway.core.settings import Settings


def own_url(settings: Settings, path: str) -> str:
    """`path` on this gateway's API, by its listen address; a listen-everywhere
    address is not reachable as is, so the loopback one stands in for it."""
    host = settings.http.host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - not a bind: the address to reach
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http.port}{path}"
