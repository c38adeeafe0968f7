"""``photoqc serve``: the upload check over HTTP."""

from __future__ import annotations

from typing import Annotated

from photoqc.cli.model_options import Model, ModelSha256
from photoqc.cli.options import MaxPixels, option
from photoqc.service.settings import ServeSettings
from photoqc.terminal import say, warn

Host = Annotated[str, option("--host", help="Address to listen on (0.0.0.0: every interface).")]
Port = Annotated[int, option("--port", min=1, max=65535, help="TCP port to listen on.")]
ServeWorkers = Annotated[
    int,
    option(
        "--workers",
        min=1,
        help="Server processes, each loading the model once (about 1 per 2 cores).",
    ),
]
Threads = Annotated[
    int, option("--threads", min=1, help="Checks run at once in each process (its CPU pool).")
]
Queue = Annotated[
    int, option("--queue", min=0, help="Checks that may wait per process; more get 503.")
]
MaxUploadMb = Annotated[
    float,
    option("--max-upload-mb", min=0.001, help="Largest upload, MB; larger gets 413 unread."),
]
MaxPhotos = Annotated[
    int,
    option("--max-photos", min=1, help="Most photos one `POST /v1/rank` may send; more get 413."),
]
NimaBatchMs = Annotated[
    float,
    option(
        "--nima-batch-ms",
        min=0.0,
        help="Milliseconds a photo waits for other requests' photos to share NIMA's forward "
        "pass (0: no waiting).",
    ),
]
ApiKeyEnv = Annotated[
    str | None,
    option(
        "--api-key-env",
        help="Name of an environment variable holding the API key that clients must send "
        "as `X-API-Key` (or `Authorization: Bearer`); default: no key.",
    ),
]
ReadTimeoutS = Annotated[
    float,
    option(
        "--read-timeout-s",
        min=0.1,
        help="Seconds a client may take to send its headers, and again its whole body; "
        "slower ones get 408 and are disconnected.",
    ),
]
TimeoutS = Annotated[
    float, option("--timeout-s", min=0.001, help="Seconds a check may take before 504.")
]


def serve(
    model: Model = None,
    model_sha256: ModelSha256 = None,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: ServeWorkers = 1,
    threads: Threads = ServeSettings.threads,
    queue: Queue = ServeSettings.queue,
    max_upload_mb: MaxUploadMb = ServeSettings.max_upload_mb,
    max_pixels: MaxPixels = None,
    api_key_env: ApiKeyEnv = None,
    timeout_s: TimeoutS = ServeSettings.timeout_s,
    read_timeout_s: ReadTimeoutS = ServeSettings.read_timeout_s,
    max_photos: MaxPhotos = ServeSettings.max_photos,
    nima_batch_ms: NimaBatchMs = ServeSettings.nima_batch_ms,
) -> None:
    """Serve the upload check over HTTP: `POST /v1/check`, `POST /v1/rank` (a listing's
    photos in cover order), `/healthz`, `/readyz`, `/metrics`, the API schema at
    `/openapi.json`, and a page at `/`."""
    from photoqc.service.launch import serve as run

    settings = ServeSettings(
        model=str(model) if model else None,
        model_sha256=model_sha256,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels or ServeSettings.max_pixels,
        api_key_env=api_key_env,
        timeout_s=timeout_s,
        threads=threads,
        queue=queue,
        read_timeout_s=read_timeout_s,
        max_photos=max_photos,
        nima_batch_ms=nima_batch_ms,
    )
    settings.api_key()  # an unset key variable: said here, before anything starts
    if api_key_env is None and host not in LOOPBACK_HOSTS:
        warn(
            [
                f"serving on {host} without an API key: anyone who reaches this port can use "
                "the service; set --api-key-env NAME (the key in that variable)"
            ]
        )
    if model is not None or model_sha256 is not None:
        from photoqc.models.bundle import default_model_dir, load_bundle

        # A wrong folder (or not the pinned one): one line here, not a failed start-up.
        load_bundle(model or default_model_dir(), expected_sha256=model_sha256)
    say(f"photoqc serve: http://{host}:{port}/ ({workers} process(es); model loads first)")
    run(settings, host=host, port=port, workers=workers)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

COMMANDS = {"serve": serve}
