"""uvicorn's HTTP/1.1 protocol (h11) with the guards a public upload endpoint needs.

uvicorn bounds idle keep-alive connections (``timeout_keep_alive``) and the size of a
request's headers (``h11_max_incomplete_event_size``), but not the time a client may take
to send them: a client that sends nothing, or its headers a byte a second (slowloris),
holds a connection, and a file descriptor, for ever. This protocol adds:

- a deadline for the request line and headers (``read_timeout`` seconds from the moment
  the connection opens, or the previous response ends): past it the client gets 408 with
  a JSON error and the connection is closed;
- a cap on open connections, below the process's open-file limit: a new connection past
  it closes the one that has waited longest for its headers, so a flood of slow clients
  can never keep ``/healthz`` (or a real upload) from being accepted;
- a connection answered before its request body arrived (an early 405, 401, 415 or 503)
  is closed once the answer is sent, so a client that goes on trickling the body holds
  nothing;
- JSON bodies, ``{"error": {"code", "message"}}``, for what the HTTP parser refuses itself
  (a malformed request line, a bad Content-Length, headers over the size limit, a NUL or
  0xFF byte in the URL), instead of uvicorn's plain text.

The body is the application's to guard (:mod:`photoqc.service.uploads`).
"""

from __future__ import annotations

import json
import logging
import resource

import h11
from uvicorn.protocols.http.h11_impl import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE, H11Protocol

logger = logging.getLogger(__name__)

ACCEPT_BACKLOG = 64
"""Connections the kernel queues for the service, and the most asyncio accepts in one go
(its accept loop takes up to the backlog before any new connection can be looked at)."""

FILE_RESERVE = 2 * ACCEPT_BACKLOG + 64
"""Open files kept free of connections: two accept bursts, and the model and weight
files, logs, pipes and the checks' spooled uploads."""

MIN_CONNECTIONS = 16


def connection_cap(reserve: int = FILE_RESERVE) -> int:
    """Connections one process may hold open: its soft open-file limit less ``reserve``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 16
    return max(MIN_CONNECTIONS, soft - reserve)


class AcceptErrors(logging.Filter):
    """asyncio logs a traceback for every accept() that fails for want of file
    descriptors, up to the backlog in a row, every second: a flood of them stalls the
    event loop. One line every ``every_s`` seconds says it instead."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.last = -every_s

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in record.getMessage():
            return True
        if record.created - self.last < self.every_s:
            return False
        self.last = record.created
        record.msg, record.args, record.exc_info, record.exc_text = (
            "too many open connections: new ones wait until slow ones are closed",
            (),
            None,
            None,
        )
        return True


def json_error(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with a JSON error body that closes the connection."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """h11 with the guards above; :func:`guarded_protocol` sets the limits."""

    read_timeout: float = 15.0
    """Seconds a client may take to send its request line and headers."""
    max_connections: int = MIN_CONNECTIONS
    """Connections this process holds open at most."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_headers()
        self._make_room()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._headers_too_large(data):
            return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole request line and headers
            self._headers_arrived()

    def _headers_too_large(self, data: bytes) -> bool:
        """431 for a request line and headers past the limit, arrived whole or not
        (h11 bounds only what is still incomplete)."""
        pending = self.conn.trailing_data[0] + data
        end = pending.find(b"\r\n\r\n")
        if (end if end >= 0 else len(pending)) <= self._header_limit():
            return False
        self._refuse(
            431,
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request headers are larger than the server accepts",
        )
        return True

    def _header_limit(self) -> int:
        return self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE

    def _refuse(self, status: int, reason: str, code: str, message: str) -> None:
        self._headers_arrived()
        if not self.transport.is_closing():
            self.transport.write(json_error(status, reason, code, message))
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY:
            # Answered before the body arrived (405, 401, 415, 503 busy...): the rest of it
            # will never be read, and a client trickling it would hold the connection with
            # uvicorn's keep-alive timer restarting on every byte. Closed now.
            self.transport.close()
            return
        self._wait_for_headers()  # the next request on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """The parser's refusal, as JSON."""
        self._refuse(
            400,
            "Bad Request",
            "bad_request",
            "malformed HTTP request (request line, headers or Content-Length)",
        )

    def _wait_for_headers(self) -> None:
        self._headers_arrived()
        self.waiting_since = self.loop.time()
        self.header_timer = self.loop.call_later(self.read_timeout, self._headers_too_slow)

    def _headers_arrived(self) -> None:
        timer = getattr(self, "header_timer", None)
        if timer is not None:
            timer.cancel()
        self.header_timer = None
        self.waiting_since = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if self.conn.their_state is h11.IDLE:
            self._refuse(
                408,
                "Request Timeout",
                "request_timeout",
                f"no complete request line and headers within {self.read_timeout:g} s",
            )

    def _make_room(self) -> None:
        live = [c for c in self.connections if not c.transport.is_closing()]
        excess = len(live) - self.max_connections
        if excess <= 0:
            return
        waiting = sorted(
            (c for c in live if getattr(c, "waiting_since", None) is not None),
            key=lambda c: c.waiting_since,
        )
        for victim in waiting[:excess]:
            victim._headers_arrived()
            victim.transport.close()
        if len(waiting) < excess:
            logger.warning("%d connections open, none idle: refusing one", len(self.connections))
            self.transport.close()


def guarded_protocol(read_timeout: float, max_connections: int) -> type[H11Protocol]:
    """The protocol class for uvicorn's ``http=`` setting, with these limits."""
    limits = {"read_timeout": read_timeout, "max_connections": max_connections}
    return type("GuardedH11Protocol", (GuardedH11Protocol,), limits)


class WorkerH11Protocol(GuardedH11Protocol):
    """:class:`GuardedH11Protocol` for ``photoqc serve --workers N``: uvicorn hands its
    worker processes the protocol by import path (a class made at run time cannot travel
    to them), so each reads its limits from the service settings in its environment
    (:data:`photoqc.service.settings.CONFIG_ENV`, set by the launcher)."""

    def __init__(self, *args, **kwargs) -> None:
        cls = type(self)
        if "read_timeout" not in cls.__dict__:
            from photoqc.service.settings import ServeSettings

            cls.read_timeout = ServeSettings.from_env().read_timeout_s
            cls.max_connections = connection_cap()
        super().__init__(*args, **kwargs)


WORKER_PROTOCOL = f"{__name__}:WorkerH11Protocol"
"""uvicorn's ``http=`` for several worker processes."""
