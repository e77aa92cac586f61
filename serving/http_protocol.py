"""Uvicorn's httptools protocol with the limits it lacks: a time limit on reading a request's headers and a size
limit on them.

Uvicorn closes idle keep-alive connections but arms no timer while a request's headers are arriving, and its
httptools parser buffers a header of any size: 2,000 connections that never finished their headers held sockets
for as long as the clients liked, and a 100 MB header was accepted. Here a connection whose headers are not
complete `header_timeout` seconds after it opened (or after the request's first byte) is closed (408 when it had
sent anything), and a header block beyond `max_header_bytes` gets a 431 and is closed. The body's time limit is
the request guard's (serving/middleware.py), which can answer it as a problem document and audit it.

What a reverse proxy in front should still add: TLS, its own client timeouts and connection limits per address,
and the client address in X-Forwarded-For (uvicorn's proxy headers) so the anonymous rate limit sees clients.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving.logs import logger
from serving.problems import MEDIA_TYPE, problem_body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    max_header_bytes: int = 32_768

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        counted = self._awaiting_headers
        if counted:
            self._header_bytes += len(data)
        super().data_received(data)
        # only bytes that arrived while no header block was complete count; one chunk of a new pipelined request
        # may go uncounted, which the limit's margin covers
        if counted and self._awaiting_headers and self._header_bytes > self.max_header_bytes:
            self._refuse(431, "headers-too-large", "Request Header Fields Too Large",
                         f"the request line and headers exceed {self.max_header_bytes:,} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if not self._awaiting_headers or self.transport.is_closing():
            return
        if self._header_bytes:
            self._refuse(408, "header-timeout", "Request Timeout",
                         f"the request's headers did not arrive within {self.header_timeout:g} s")
        else:
            self.transport.close()

    def _refuse(self, status: int, slug: str, title: str, detail: str) -> None:
        """Answer and close: the request never reached the app, so there is no key to attribute it to."""
        logger().warning("connection refused", extra={"event": "connection_refused", "status": status})
        payload = json.dumps(problem_body(status, slug, title, detail)).encode()
        head = (f"HTTP/1.1 {status} {title}\r\ncontent-type: {MEDIA_TYPE}\r\ncontent-length: {len(payload)}\r\n"
                "connection: close\r\n\r\n").encode()
        self._awaiting_headers = False
        self.transport.write(head + payload)
        self.transport.close()


def guarded_protocol(header_timeout: float, max_header_bytes: int) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give uvicorn (`http=`), with this service's limits."""
    attributes: dict[str, Any] = {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes}
    return type("CareallocHttpProtocol", (GuardedHttpToolsProtocol,), attributes)
