"""A merchant's receiver on 127.0.0.1 for delivery tests: an HTTP server on a
thread that records every request, verifies it with `standardwebhooks` (an
implementation no one here wrote) against the secrets it was given, and answers
as each path is told (a status, headers, a body, or a stall)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    stall_s: float = 0.0  # wait this long (or until the receiver stops) before answering


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # Per secret given for the path: whether standardwebhooks verified the request.
    verified: tuple[bool, ...]


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._answers: dict[str, Answer] = {}
        self._secrets: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver._record(self.path, dict(self.headers.items()), body)
                answer = receiver._answers.get(self.path, Answer())
                if answer.stall_s:
                    receiver.stopping.wait(answer.stall_s)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the sender gave up first

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, path: str, answer: Answer) -> None:
        self._answers[path] = answer

    def verify_with(self, path: str, secrets: Sequence[str]) -> None:
        self._secrets[path] = tuple(secrets)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [request for request in self.received if request.path == path]

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        lowered = {name.lower(): value for name, value in headers.items()}
        verified = []
        for secret in self._secrets.get(path, ()):
            try:
                Webhook(secret).verify(body, lowered)
                verified.append(True)
            except WebhookVerificationError:
                verified.append(False)
        with self._lock:
            self.received.append(Received(path, lowered, body, tuple(verified)))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
