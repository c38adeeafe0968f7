"""Reading an upload's body without letting the client decide how long, how much or where.

A body is received before a check slot is taken (a slow upload must hold no slot); the
service bounds the bodies received at once. The body comes through :class:`BodyReader`,
which wraps the ASGI receive channel:

- more than ``limit`` bytes (announced or received): 413 at once, the rest unread;
- the whole body not in within ``read_timeout`` seconds of the request: 408;
- the service shutting down (SIGTERM) while a body trickles in: 503 with ``Retry-After``;
- the client gone before the body is complete: :class:`ClientGone`, logged in one line.

Bodies larger than :data:`SPOOL_BYTES` go to a temporary file rather than memory (multipart
uploads are spooled by Starlette's form parser the same way).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from starlette.requests import Request

from photoqc.errors import PhotoqcError

SPOOL_BYTES = 4 << 20
"""Bodies up to this size stay in memory; larger ones are spooled to a temporary file."""

POLL_S = 0.25
"""How often a body read looks whether the service is shutting down, seconds."""

ACCEPTED_TYPES = ("image/", "application/octet-stream", "multipart/form-data")


class ApiError(PhotoqcError):
    """An answer other than 200: HTTP status, a stable code, a sentence (and headers)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.http_status, self.code, self.headers = status, code, headers


CLOSE = {"Connection": "close"}
"""On an answer sent before the body was read whole: the rest is never read, so the
connection cannot carry another request."""


class ClientGone(PhotoqcError):
    """The client closed the connection before its upload was complete (nobody to answer)."""

    http_status = 400
    code = "client_gone"


class BodyReader:
    """An ASGI receive channel with a size limit, a deadline and a shutdown check.

    Parameters
    ----------
    receive : callable
        The request's own receive channel.
    limit : int
        Largest body, bytes.
    each_limit : int, optional
        Largest photo of a body holding several, bytes (default ``limit``).
    read_timeout : float
        Seconds the whole body may take, from now.
    draining : callable
        True once the service is shutting down.
    """

    def __init__(
        self,
        receive,
        limit: int,
        read_timeout: float,
        draining: Callable[[], bool],
        each_limit: int | None = None,
    ) -> None:
        self.receive = receive
        self.limit = limit
        self.each_limit = each_limit or limit
        self.read_timeout = read_timeout
        self.draining = draining
        self.deadline = asyncio.get_running_loop().time() + read_timeout
        self.size = 0

    def too_big(self) -> ApiError:
        return ApiError(
            413,
            "body_too_large",
            f"the upload is larger than the limit of {self.limit / 1e6:g} MB",
            CLOSE,
        )

    async def __call__(self) -> dict:
        loop = asyncio.get_running_loop()
        while True:
            if self.draining():
                raise ApiError(
                    503,
                    "shutting_down",
                    "the service is shutting down; retry shortly",
                    {"Retry-After": "5", **CLOSE},
                )
            left = self.deadline - loop.time()
            if left <= 0:
                raise ApiError(
                    408,
                    "request_timeout",
                    f"the upload did not arrive within {self.read_timeout:g} s",
                    CLOSE,
                )
            try:
                message = await asyncio.wait_for(self.receive(), min(POLL_S, left))
            except TimeoutError:
                continue
            if message["type"] == "http.disconnect":
                raise ClientGone("the client went away before its upload was complete")
            self.size += len(message.get("body", b""))
            if self.size > self.limit:
                raise self.too_big()
            return message


def check_content_type(request: Request) -> str:
    """The request's content type, lower-case; 415 unless photoqc takes it."""
    content_type = request.headers.get("content-type", "application/octet-stream").lower()
    if not content_type.startswith(ACCEPTED_TYPES):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {content_type.split(';')[0]!r} is not accepted: send the photo as "
            "the body with Content-Type image/* or application/octet-stream, or as the "
            "multipart/form-data field 'image'",
        )
    return content_type


def check_length(request: Request, limit: int) -> None:
    """413 at once when Content-Length announces more than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise ApiError(400, "bad_request", "Content-Length is not a number") from None
    if size > limit:
        raise ApiError(
            413,
            "body_too_large",
            f"the upload is larger than the limit of {limit / 1e6:g} MB",
            CLOSE,
        )


async def _form(guarded: Request, too_many: ApiError | None, **limits):
    """The multipart form of a guarded request, parsed within ``limits``; a body the parser
    refuses is 400 (``too_many`` instead, when given, for more files than allowed), and
    what the guarded reader raises (413, 408, 503) passes through."""
    try:
        return await guarded.form(**limits)
    except PhotoqcError:
        raise
    except Exception as exc:
        if too_many is not None and "Too many files" in str(exc):
            raise too_many from None
        raise ApiError(400, "bad_request", f"unreadable multipart body ({exc})") from None


async def read_photos(
    request: Request, reader: BodyReader, most: int
) -> list[tuple[BinaryIO, str]]:
    """The photos of a multipart body's ``images`` fields, in order, each as a file at its
    start with its name (``photo-N`` when it has none); 413 past ``most`` photos or a
    photo over the reader's limit. The caller closes the files."""
    if not check_content_type(request).startswith("multipart/form-data"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the photos as multipart/form-data, one field 'images' per photo",
        )
    too_many = ApiError(413, "too_many_photos", f"more than {most} photos (--max-photos)")
    form = await _form(
        Request(request.scope, reader), too_many, max_files=most, max_fields=most + 10
    )
    fields = [f for f in form.getlist("images") if not isinstance(f, str)]
    if not fields:
        await form.close()
        raise ApiError(400, "bad_request", "the multipart body has no file field 'images'")
    photos = []
    for i, field in enumerate(fields, start=1):
        field.file.seek(0, 2)
        if field.file.tell() > reader.each_limit:
            await form.close()
            raise ApiError(
                413,
                "body_too_large",
                f"photo {i} is larger than the limit of {reader.each_limit / 1e6:g} MB",
            )
        field.file.seek(0)
        photos.append((field.file, field.filename or f"photo-{i}"))
    return photos


async def read_upload(request: Request, reader: BodyReader) -> tuple[BinaryIO, str]:
    """The photo in the request, as a file object at its start (in memory up to
    :data:`SPOOL_BYTES`, else on disk), and its name: the raw body, or the multipart field
    ``image``. The caller closes the file."""
    guarded = Request(request.scope, reader)
    if not check_content_type(request).startswith("multipart/form-data"):
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        try:
            async for chunk in guarded.stream():
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, "upload"
    form = await _form(guarded, None, max_files=1, max_fields=10, max_part_size=reader.limit)
    field = form.get("image")
    if field is None or isinstance(field, str):
        await form.close()
        raise ApiError(400, "bad_request", "the multipart body has no file field 'image'")
    field.file.seek(0)
    return field.file, field.filename or "upload"
