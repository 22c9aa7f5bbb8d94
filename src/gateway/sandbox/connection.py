"""Answering nothing at all: the simulator's lost calls over a real socket.

A charge "lost after recording" (trigger 901) and a call the processor never
took (an outage, 903) must leave the client without an answer, as a network
would. ASGI has no way to say so, so the server's transport (uvicorn's, behind
its `send`) is aborted: the client sees the connection drop, with no bytes of
an answer. Where there is no socket (an in-process test transport),
`ConnectionDropped` is raised to the caller instead.
"""

from __future__ import annotations

import asyncio
from typing import Any


class ConnectionDropped(Exception):
    """The sandbox gives this request no answer."""


async def drop(send: Any) -> None:
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionDropped("the sandbox gives this request no answer")
    transport.abort()
    # Let the server see the connection gone before the app returns, so that it
    # does not try to write a 500 of its own.
    for _ in range(10):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)
