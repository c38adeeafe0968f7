"""The C decoders' warnings, taken off the terminal and into the log.

libjpeg (inside OpenCV) writes a line to the process's stderr for every JPEG it finds
damaged but decodable ("Corrupt JPEG data: 3 extraneous bytes before marker 0xda"); it
writes to file descriptor 2 itself, so no Python setting reaches it. :func:`route_to_log`
points descriptor 2 at a pipe whose reader thread passes every byte on to the real stderr
unchanged, except the decoders' own warning lines, which become debug records of the
``photoqc.images`` logger (``photoqc -v`` shows INFO; a debug handler shows them). The
photo is still read: these are warnings, not errors.

Only a program's entry point should call it (the ``photoqc`` command and service do); it
changes the whole process's stderr, once, and puts it back at exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

logger = logging.getLogger("photoqc.images")

DECODER_WARNING = re.compile(
    rb"^(?:Corrupt JPEG data: .*|Premature end of JPEG file|Invalid SOS parameters for "
    rb"sequential JPEG|Warning: unknown JFIF revision number .*|Inconsistent progression "
    rb"sequence for component .*|Application transferred too few scanlines)\r?$"
)
"""libjpeg's warnings (the messages of its ``JWRN_*`` codes that damaged files raise)."""

_installed: dict[str, object] = {}


def is_decoder_warning(line: bytes) -> bool:
    """Whether one line of stderr (without its newline) is a decoder's warning."""
    return DECODER_WARNING.match(line) is not None


def route_to_log() -> bool:
    """Route the decoders' warnings from stderr to the log for the rest of the process;
    True when done now, False when already done or stderr is not a real file descriptor
    (a test runner's capture)."""
    if _installed:
        return False
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return False
    except (AttributeError, OSError, ValueError):
        return False
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    closing = threading.Event()
    reader = threading.Thread(
        target=_forward, args=(read_end, terminal, closing), name="photoqc-stderr", daemon=True
    )
    reader.start()
    _installed.update(terminal=terminal, reader=reader, closing=closing, read_end=read_end)
    atexit.register(_restore)
    return True


def _forward(read_end: int, terminal: int, closing: threading.Event | None = None) -> None:
    """Pass stderr on, line by line where lines end, chunk by chunk where they do not yet
    (a progress bar redraws without a newline), holding back the decoders' lines. Ends at
    the pipe's end, or once ``closing`` is set and nothing more is waiting (worker
    processes that inherited the pipe may hold it open after this process is done)."""
    import select

    pending = b""
    while True:
        if closing is not None:
            try:
                ready, _, _ = select.select([read_end], [], [], 0.1)
            except (OSError, ValueError):
                break  # closed by _restore after it gave up waiting
            if not ready:
                if closing.is_set():
                    break
                continue
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            break
        if not chunk:
            break
        try:
            pending = _pass_on(pending + chunk, terminal)
        except Exception:  # never stop forwarding: pass the bytes on as they are
            _write_all(terminal, pending + chunk)
            pending = b""
    if pending:
        _write_all(terminal, pending)


def _pass_on(text: bytes, terminal: int) -> bytes:
    """Write ``text`` to ``terminal`` less the decoders' lines; return what is held back
    (an unfinished line that may be a decoder's, arriving in pieces)."""
    lines = text.split(b"\n")
    pending = lines.pop()
    out = []
    for line in lines:
        if is_decoder_warning(line):
            logger.debug("decoder: %s", line.decode(errors="replace").strip())
        else:
            out.append(line + b"\n")
    # An unfinished line is passed on now unless it may be a decoder's line arriving in
    # pieces (they start with one of a few words).
    if pending and not _may_start_warning(pending):
        out.append(pending)
        pending = b""
    if out:
        _write_all(terminal, b"".join(out))
    return pending


def _may_start_warning(text: bytes) -> bool:
    return any(
        text.startswith(w[: len(text)]) or w.startswith(text[: len(w)])
        for w in (b"Corrupt JPEG", b"Premature end", b"Invalid SOS", b"Warning: unknown",
                  b"Inconsistent progression", b"Application transferred")
    )  # fmt: skip


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except OSError:
            return
        data = data[written:]


def _restore() -> None:
    """Put stderr back and let the reader pass on what is left."""
    terminal = _installed.get("terminal")
    reader = _installed.get("reader")
    if terminal is None:
        return
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    os.dup2(terminal, 2)  # this process's end of the pipe closes
    _installed["closing"].set()  # type: ignore[union-attr]
    reader.join(2)  # type: ignore[union-attr]  # it passes on what is waiting, then ends
    # Whatever the reader left in the pipe (it ended early, or is still busy) is passed on
    # here: the last lines of a run (its summary, its error) are never lost at exit.
    read_end = _installed["read_end"]
    try:
        os.set_blocking(read_end, False)  # type: ignore[arg-type]
        left = b""
        while True:
            try:
                chunk = os.read(read_end, 65536)  # type: ignore[arg-type]
            except (BlockingIOError, InterruptedError):
                break
            if not chunk:
                break
            left += chunk
        if left:
            _write_all(terminal, _pass_on(left, terminal))  # the held-back end too
        os.close(read_end)  # type: ignore[arg-type]
    except OSError:
        pass
    _installed.clear()
