"""A real webhook receiver on 127.0.0.1 (http.server in a thread) for the events tests and the benchmark."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What arrived, and how to answer: ``fail_next`` requests get ``fail_status`` (then 200)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    fail_headers: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.fail_next = 0
            self.fail_status = 500
            self.fail_headers = {}

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"expected {n} requests, got {self.count()}")


@contextmanager
def running() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                state.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                failing = state.fail_next > 0
                if failing:
                    state.fail_next -= 1
                status = state.fail_status if failing else 200
                extra = dict(state.fail_headers) if failing else {}
            answer = b"nope" if failing else b"ok"
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
