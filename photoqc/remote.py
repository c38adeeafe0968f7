"""Photos named by an object-store URI (``s3://bucket/key``, ``gs://bucket/key``): read
within a deadline and a size limit, from a URI that cannot redirect the read.

A manifest may come from someone else, so a URI names a bucket and a key and nothing more:
a query string (pyarrow reads ``?endpoint_override=…&scheme=http`` from it, which sent the
operator's signed request to any host), a fragment, a user, a password or a port is
refused before any client is made. Endpoints and credentials come from the configuration
of the machine only (for S3, the usual AWS variables and files, and an S3-compatible
store's address in ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``; for GCS, Google's
application default credentials), as pyarrow reads them.

Every read has a deadline (:data:`TIMEOUT_ENV`, ``--remote-timeout-s``; default
:data:`DEFAULT_TIMEOUT_S`): the client's own connect and request time-outs are set to it
and retries are off, and the whole read (credentials, region, size, body) runs on a
helper thread the row stops waiting for at the deadline, so an endpoint that accepts and
never answers, trickles, or a machine with no network costs one error row, not the run.
Objects over :data:`MAX_REMOTE_BYTES` are refused, counted as they arrive.

Azure (``abfs://``) and HDFS (``hdfs://``) are refused: with no credentials the Azure
client started a shell and then aborted the whole process (no row written), and HDFS
starts a JVM.
"""

from __future__ import annotations

import os
import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_REMOTE_BYTES",
    "REFUSED_SCHEMES",
    "SUPPORTED_SCHEMES",
    "TIMEOUT_ENV",
    "RemoteReadError",
    "read_remote",
    "remote_timeout_s",
]

SUPPORTED_SCHEMES = ("s3", "gs", "gcs")
REFUSED_SCHEMES = {
    "abfs": "Azure (abfs://) is not supported: its client can abort the whole process",
    "abfss": "Azure (abfss://) is not supported: its client can abort the whole process",
    "hdfs": "HDFS (hdfs://) is not supported: its client starts a Java VM",
    "viewfs": "HDFS (viewfs://) is not supported: its client starts a Java VM",
}
MAX_REMOTE_BYTES = 256 << 20
"""Largest object read (counted as it arrives, whatever the store says its size is)."""
DEFAULT_TIMEOUT_S = 10.0
"""Seconds a remote read may take, from the first connection to the last byte."""
TIMEOUT_ENV = "PHOTOQC_REMOTE_TIMEOUT_S"
"""Environment variable that sets the deadline (the CLI's ``--remote-timeout-s`` sets it,
so that worker processes read the same)."""
_CHUNK = 1 << 20
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,222}$")


class RemoteReadError(Exception):
    """A remote photo that cannot be read; the message says why, in one line."""


def remote_timeout_s() -> float:
    """The deadline of a remote read, seconds (:data:`TIMEOUT_ENV`, else the default)."""
    try:
        value = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


def parse(uri: str) -> tuple[str, str, str]:
    """``(scheme, bucket, key)`` of an object-store URI that names only those.

    Raises
    ------
    RemoteReadError
        Another scheme, or a URI that carries more than a bucket and a key.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in REFUSED_SCHEMES:
        raise RemoteReadError(REFUSED_SCHEMES[scheme] + "; copy the files first")
    if scheme not in SUPPORTED_SCHEMES:
        raise RemoteReadError(f"{scheme}:// is not a supported object store (s3://, gs://)")
    if parts.query or "?" in uri:
        raise RemoteReadError(
            "a URI with a query string is refused (it can name another endpoint); "
            "set endpoints in the machine's configuration"
        )
    if parts.fragment or "#" in uri:
        raise RemoteReadError("a URI with a fragment (#) is refused")
    if "@" in parts.netloc or ":" in parts.netloc:
        raise RemoteReadError(
            "a URI with a user, password, host or port is refused: name a bucket and a key"
        )
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not _BUCKET.match(bucket) or not key:
        raise RemoteReadError("name a bucket and a key: s3://bucket/path/to/photo.jpg")
    return scheme, bucket, key


def _filesystem(scheme: str, bucket: str, timeout: float):
    import pyarrow.fs as pafs

    if scheme == "s3":
        # An endpoint of the machine's configuration (S3-compatible stores), never the URI's.
        endpoint = urlsplit(
            os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        )
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region and not endpoint.netloc:
            region = pafs.resolve_s3_region(bucket)
        return pafs.S3FileSystem(
            region=region,
            endpoint_override=endpoint.netloc or None,
            scheme=endpoint.scheme or "https",
            connect_timeout=timeout,
            request_timeout=timeout,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
        )
    return pafs.GcsFileSystem(retry_time_limit=timedelta(seconds=timeout))


def _fetch(scheme: str, bucket: str, key: str, timeout: float, limit: int) -> bytes:
    import pyarrow.fs as pafs

    filesystem = _filesystem(scheme, bucket, timeout)
    path = f"{bucket}/{key}"
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise RemoteReadError("file not found")
    if info.type != pafs.FileType.File:
        raise RemoteReadError("not a file")
    if info.size is not None and info.size > limit:
        raise RemoteReadError(f"file too large ({info.size:,} bytes; at most {limit:,})")
    chunks, size = [], 0
    with filesystem.open_input_stream(path) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise RemoteReadError(f"file too large (more than {limit:,} bytes)")
            chunks.append(chunk)
    return b"".join(chunks)


def read_remote(
    uri: str, *, timeout_s: float | None = None, limit: int = MAX_REMOTE_BYTES
) -> bytes:
    """The bytes of the object at ``uri``, read within ``timeout_s`` seconds (default:
    :func:`remote_timeout_s`) and ``limit`` bytes.

    Raises
    ------
    RemoteReadError
        A refused URI, a missing object, a store that refuses, fails or does not answer in
        time, an object too large.
    """
    scheme, bucket, key = parse(uri)
    timeout = timeout_s or remote_timeout_s()
    result: list[bytes] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(_fetch(scheme, bucket, key, timeout, limit))
        except BaseException as exc:  # handed to the waiting row
            failure.append(exc)

    # The client may sit in a connect or a read past its own time-outs (credential
    # look-ups, a trickling body): the row stops waiting at the deadline, and the helper
    # thread, a daemon, ends with the process.
    helper = threading.Thread(target=run, name="photoqc-remote", daemon=True)
    helper.start()
    helper.join(timeout)
    if helper.is_alive():
        raise RemoteReadError(f"no complete answer within {timeout:g} s (--remote-timeout-s)")
    if failure:
        exc = failure[0]
        if isinstance(exc, RemoteReadError):
            raise exc
        raise RemoteReadError(f"cannot read ({str(exc).splitlines()[0][:200]})") from None
    return result[0]
