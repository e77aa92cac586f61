"""Connection limits of the served process: headers that never finish or never end are cut off (a real uvicorn on
127.0.0.1 with this service's protocol class), and a body that trickles in gets a 408 from the request guard."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from serving.http_protocol import guarded_protocol
from serving.settings import ServiceSettings

HEADER_TIMEOUT = 0.5
MAX_HEADER_BYTES = 4_096


async def echo_length(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body and answers its length (what any route does before it works)."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    payload = str(size).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    config = uvicorn.Config(echo_length, host="127.0.0.1", port=free, lifespan="off", log_config=None,
                            loop="asyncio", http=guarded_protocol(HEADER_TIMEOUT, MAX_HEADER_BYTES))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield free
    server.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(HEADER_TIMEOUT * 20)  # a generous cap on each wait, so a server that never closes fails here
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never does)."""
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_answer(sock: socket.socket, ending: bytes) -> bytes:
    answer = b""
    while not answer.endswith(ending):
        chunk = sock.recv(65_536)
        assert chunk, f"closed after {answer!r}"
        answer += chunk
    return answer


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    with connect(port) as sock:
        assert read_all(sock) == b""


def test_headers_trickled_in_are_cut_off_with_408(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n")
        answer = b""
        with pytest.raises(OSError):  # the server closes while the client is still sending
            for _ in range(200):
                sock.sendall(b"x-slow: 1\r\n")
                time.sleep(HEADER_TIMEOUT / 5)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


def test_a_header_block_beyond_the_limit_gets_431(port: int) -> None:
    with connect(port) as sock:  # twice the limit, then nothing: the server has read it all when it answers
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (MAX_HEADER_BYTES * 2))
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b"headers-too-large" in answer


def test_a_header_that_never_ends_is_cut_off(port: int) -> None:
    """100 MB offered; the server stops reading soon after the limit (the client then sees the connection go)."""
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-big: ")
        with pytest.raises(OSError):
            for _ in range(100):
                sock.sendall(b"a" * 1_000_000)


def test_ordinary_requests_idle_keep_alive_and_big_bodies_pass(port: int) -> None:
    body = b"y" * 1_000_000  # body bytes never count as header bytes
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert read_answer(sock, b"\r\n\r\n0").startswith(b"HTTP/1.1 200")
        time.sleep(HEADER_TIMEOUT * 2)  # idle between requests: keep-alive's limit, not the header timer's
        sock.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        answer = read_answer(sock, b"\r\n\r\n1000000")
    assert answer.startswith(b"HTTP/1.1 200"), answer


def test_a_trickling_body_gets_408_and_its_audit_row(make_client: Any, settings: ServiceSettings,
                                                     auth: Any) -> None:
    client = make_client(service_settings=settings.model_copy(update={"body_timeout_seconds": 0.2}))
    app = client.app
    key = auth("allocator")["X-API-Key"]
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        chunks = [{"type": "http.request", "body": b'{"programs": [', "more_body": True}]

        async def receive() -> dict[str, Any]:
            if chunks:
                return chunks.pop()
            await asyncio.sleep(5)  # the rest never comes in time
            return {"type": "http.request", "body": b"]}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/forecasts", "raw_path": b"/v1/forecasts",
                 "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
                 "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 80), "app": app,
                 "headers": [(b"x-api-key", key.encode()), (b"content-type", b"application/json")]}
        await app(scope, receive, send)

    asyncio.run(call())
    assert sent[0]["status"] == 408
    assert [(r["status"], r["role"]) for r in app.state.audit.rows()] == [(408, "allocator")]
