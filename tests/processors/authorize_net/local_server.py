"""A local HTTP server answering what a test tells it to, for the client's and
the connector's failure paths (what Authorize.Net itself would answer is the
sandbox's job, `gateway sandbox serve`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"
OK_BODY = BOM + (
    b'{"refId":"txn_1","messages":{"resultCode":"Ok","message":[{"code":"I00001",'
    b'"text":"Successful."}]},"sessionToken":"ignored","someFutureField":{"a":1}}'
)


@dataclass
class Seen:
    connections: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


Reply = Callable[[asyncio.StreamWriter], Awaitable[bool]]  # False: stop the connection


def answer_with(status: int, body: bytes) -> Reply:
    async def reply(writer: asyncio.StreamWriter) -> bool:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        return True

    return reply


async def never_answer(_: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(3600)
    return False


async def hang_up(_: asyncio.StreamWriter) -> bool:
    return False


@asynccontextmanager
async def serving(reply: Reply) -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")[1:]
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen.requests.append((headers, body))
                if not await reply(writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/xml/v1/request.api", seen
    finally:
        server.close()
        # A handler still holding its connection (never_answer) must not outlive the test.
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
