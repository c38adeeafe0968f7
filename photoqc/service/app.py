"""The HTTP service: ``POST /v1/check`` answers whether an uploaded photo may be published.

One process holds one :class:`photoqc.assess.scorer.Scorer` (the model and its networks,
loaded once at start) and runs its CPU work off the event loop in a bounded thread pool.
A request's body is received first (within ``read_timeout_s``), then it takes a check
slot: requests beyond what the pool and a short queue hold get 503 with ``Retry-After``; a
request still running after ``timeout_s`` gets 504. Every error is JSON
``{"error": {"code", "message"}}``; bad input is never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from typing import BinaryIO

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from photoqc.assess.answer import answer as judge
from photoqc.assess.answer import finite, trained_on
from photoqc.assess.items import InputItem
from photoqc.assess.recipe import RecipeOptions
from photoqc.assess.scorer import Scorer
from photoqc.errors import PhotoqcError
from photoqc.memory import return_free_memory
from photoqc.service.settings import ServeSettings
from photoqc.service.uploads import (
    ApiError,
    BodyReader,
    ClientGone,
    check_content_type,
    check_length,
    read_photos,
    read_upload,
)

logger = logging.getLogger(__name__)

KNOWN_PATHS = frozenset(
    {"/", "/v1/check", "/v1/rank", "/healthz", "/readyz", "/metrics", "/openapi.json"}
)


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


class Metrics:
    """Prometheus metrics of one app (its own registry: no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "photoqc_requests",
            "HTTP requests by path and status",
            ["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "photoqc_check_seconds",
            "Time to answer POST /v1/check, seconds",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        self.verdicts = Counter(
            "photoqc_verdicts", "Verdicts given", ["verdict"], registry=self.registry
        )
        self.in_flight = Gauge(
            "photoqc_checks_in_flight", "Checks running or queued", registry=self.registry
        )


RECEIVING_PER_SLOT = 16
"""Uploads received at once per check slot (a body is received before a slot is taken)."""


class Checker:
    """The model's pipeline behind a bounded pool: at most ``threads`` checks run and
    ``queue`` wait; each thread owns its own scorer (segmenters are not shared between
    threads) and borrows the first scorer's NIMA batcher, so photos of concurrent requests
    share forward passes. :meth:`close` closes the borrowers, then the owner (whose
    batcher stops its thread and releases the networks)."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.options = RecipeOptions(offline=True, max_pixels=settings.max_pixels)
        from photoqc.models.bundle import default_model_dir

        first, self.warnings = Scorer.from_model(
            settings.model or default_model_dir(),
            self.options,
            nima_window_s=settings.nima_batch_ms / 1000,
            model_sha256=settings.model_sha256,
        )
        self.owner = first
        self.nima = first.extractor.nima
        self.bundle, self.config = first.bundle, first.config
        self._local = threading.local()
        self._spare = [first]
        self._scorers = [first]
        self._spare_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="photoqc-check")
        self.slots = settings.threads + settings.queue
        self.busy = 0
        self.receiving = 0
        self.receiving_places = RECEIVING_PER_SLOT * self.slots

    def _scorer(self) -> Scorer:
        scorer = getattr(self._local, "scorer", None)
        if scorer is None:
            with self._spare_lock:
                scorer = self._spare.pop() if self._spare else None
                if scorer is None:
                    scorer = Scorer(self.bundle, self.config, nima=self.nima)
                    self._scorers.append(scorer)
            self._local.scorer = scorer
            held = scorer.extractor.resources()
            logger.debug(
                "%s: its own scorer, NIMA batcher %s %s",
                threading.current_thread().name,
                held["batcher"] or "(off)",
                held["nima"],
            )
        return scorer

    def resources(self) -> list[dict[str, str]]:
        """Each scorer's extractor in words: whether it owns or borrows the NIMA batcher."""
        with self._spare_lock:
            return [s.extractor.resources() for s in self._scorers]

    def close(self, wait_s: float = 10.0) -> None:
        """Stop taking checks, give those running ``wait_s`` seconds to end, and let go of
        every scorer's threads and networks."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + wait_s
        for thread in list(getattr(self.pool, "_threads", ())):  # the executor's own
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._spare_lock:
            scorers, self._scorers = self._scorers, []
        for scorer in scorers:  # the borrowers first: the owner's batcher serves them
            if scorer is not self.owner:
                scorer.close()
        self.owner.close()

    def check(
        self, image: bytes | BinaryIO, name: str, with_features: bool, with_mask: bool
    ) -> dict:
        """The JSON answer for one photo, given as bytes or an open file (runs in the pool)."""
        assessment, answer = judge(
            self._scorer(), InputItem(name, image), with_features=with_features
        )
        if assessment.error is not None:
            # The error's kind decides the status (413 for too many pixels, read from the
            # header before decoding); the row's message is said without the upload's name.
            error = assessment.error
            raise ApiError(error.http_status, error.code, str(assessment.row["error"]))
        if with_mask and assessment.extraction.mask is not None:
            answer["mask_png"] = _mask_png(assessment.extraction.mask)
        return answer

    def rank(self, photos: list[tuple[BinaryIO, str]]) -> dict:
        """The JSON answer for one listing's photos (runs in the pool): each photo's row as
        ``photoqc rank`` writes it, in rank order, and a summary. Photos are measured one
        at a time (memory grows with one photo, not with the listing); parts of the same
        name are told apart (``x.jpg``, ``x.jpg#2``)."""
        from photoqc.assess.covers import rank_photos, unique_names

        start = time.perf_counter()
        scorer = self._scorer()
        names = unique_names([name for _, name in photos])
        items = [InputItem(name, file) for (file, _), name in zip(photos, names, strict=True)]
        ranked, summary = rank_photos(scorer, items)
        answer_rows = [_rank_row(row) for row in ranked.to_dict("records")]
        return {
            "photos": answer_rows,
            "summary": {
                "photos": summary.photos,
                "publishable": not summary.unpublishable,
                "duplicates": summary.duplicates,
                "errors": summary.errors,
            },
            "model": {
                "sha256": scorer.bundle.sha256,
                "trained_on": trained_on(scorer.bundle.meta),
            },
            "timing_ms": {"check": round(1000 * (time.perf_counter() - start), 1)},
        }


def _declares_body(request: Request) -> bool:
    """Whether the request says a body follows its headers."""
    length = request.headers.get("content-length", "0").strip()
    return "transfer-encoding" in request.headers or (length.isdigit() and int(length) > 0)


def _rank_row(row: dict) -> dict:
    """A ranked photo's row as JSON, its ``reasons`` a list of the objects ``/v1/check``
    answers (the table's ``reasons_json``), not the table's joined text."""
    import json

    out = {k: _json_value(v) for k, v in row.items() if k != "reasons_json"}
    text = row.get("reasons_json")
    out["reasons"] = json.loads(text) if isinstance(text, str) and text else []
    return out


def _json_value(value: object) -> object:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return finite(value)
    return value


def _mask_png(mask: np.ndarray) -> str:
    """The object mask the features used, as a PNG data URL at up to 512 px: white, opaque
    on the object and transparent elsewhere, so that it can be drawn over the photo."""
    alpha = mask.astype(np.uint8) * 255
    picture = Image.fromarray(np.dstack([np.full_like(alpha, 255), alpha]), "LA")
    picture.thumbnail((512, 512))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The service as an ASGI app; the model loads when the app starts."""
    settings = settings or ServeSettings.from_env()
    metrics = Metrics()
    state: dict[str, Checker] = {}
    api_key = settings.api_key()
    limit = int(settings.max_upload_mb * 1e6)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        checker = await loop.run_in_executor(None, Checker, settings)
        for warning in checker.warnings:
            logger.warning("%s", warning)
        state["checker"] = checker
        restore = _drain_on_signals(app)
        yield
        restore()
        checker.close()

    # /docs and /redoc would load Swagger UI from a CDN: off; the schema stays at /openapi.json.
    app = FastAPI(
        title="photoqc",
        summary="Is this listing photo technically good enough to publish, and if not, why?",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.draining = False
    if api_key:
        _declare_api_key(app)

    @app.exception_handler(PhotoqcError)
    async def photoqc_error(request: Request, exc: PhotoqcError) -> JSONResponse:
        if isinstance(exc, ClientGone):
            logger.info("%s: %s", request.url.path, exc.message)
        return _error(exc.http_status, exc.code, exc.message, getattr(exc, "headers", None))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "bad_request", "; ".join(e.get("msg", "") for e in exc.errors()))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("internal error on %s", request.url.path)
        return _error(500, "internal", f"internal error: {type(exc).__name__}")

    @app.middleware("http")
    async def count(request: Request, call_next):
        response = await call_next(request)
        if response.status_code >= 400 and _declares_body(request):
            # An error answered before (or instead of) reading the body: the connection
            # ends with it, as the protocol closes it anyway (photoqc.service.protocol).
            response.headers["connection"] = "close"
        # Only known paths become labels: a scanner's random URLs must not grow the metrics.
        path = request.url.path if request.url.path in KNOWN_PATHS else "other"
        metrics.requests.labels(path, str(response.status_code)).inc()
        return response

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict:
        return {"status": "alive"}

    @app.get("/readyz", summary="The model is loaded and checks are accepted")
    async def readyz() -> JSONResponse:
        if "checker" not in state:
            return _error(503, "not_ready", "the model is still loading")
        return JSONResponse({"status": "ready", "model": state["checker"].bundle.sha256})

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics_text() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, summary="A page to check a photo by hand")
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files("photoqc.service").joinpath("page.html").read_text())

    @app.post(
        "/v1/check",
        summary="Check one photo",
        description=(
            "The photo as the raw body (Content-Type image/* or application/octet-stream) "
            "or as multipart/form-data field `image`. `?features=1` adds every feature "
            "value; `?mask=1` adds the object mask as a PNG data URL."
        ),
        responses={
            400: {"description": "not an image, or corrupt"},
            401: {"description": "missing or wrong API key"},
            408: {"description": "the upload did not arrive in time"},
            413: {"description": "body or pixel count over the limit"},
            415: {"description": "unsupported Content-Type, or an image format not read"},
            503: {"description": "queue full or shutting down (see Retry-After)"},
            504: {"description": "check took longer than the timeout"},
        },
    )
    async def check(request: Request, features: bool = False, mask: bool = False) -> dict:
        async def read(reader: BodyReader):
            image, name = await read_upload(request, reader)
            if reader.size == 0:
                image.close()
                raise ApiError(400, "bad_image", "empty upload (0 bytes)")
            return (image, name), [image]

        answer = await answer_with(
            request, limit, read, lambda c, upload: c.check(*upload, features, mask)
        )
        metrics.verdicts.labels(answer["verdict"]).inc()
        return answer

    @app.post(
        "/v1/rank",
        summary="Rank a listing's photos: the cover first, near-duplicates flagged",
        description=(
            "The photos as multipart/form-data, one field `images` per photo (at most "
            "`--max-photos`, each within `--max-upload-mb`). Answers the photos in rank "
            "order with the fields `photoqc rank` writes: `image` (the field's file name), "
            "`rank`, `is_cover`, `cover_score`, `p_good`, `verdict`, `reasons`, `why`, "
            "`duplicate_of`, `status`, `error`; and a summary."
        ),
        responses={
            400: {"description": "no `images` field, or an unreadable body"},
            401: {"description": "missing or wrong API key"},
            413: {"description": "too many photos, or one over the size limit"},
            415: {"description": "not multipart/form-data"},
            503: {"description": "queue full or shutting down (see Retry-After)"},
            504: {"description": "ranking took longer than the timeout"},
        },
    )
    async def rank(request: Request) -> dict:
        async def read(reader: BodyReader):
            photos = await read_photos(request, reader, settings.max_photos)
            return photos, [file for file, _ in photos]

        total = limit * settings.max_photos
        return await answer_with(request, total, read, lambda c, photos: c.rank(photos))

    async def answer_with(request: Request, body_limit: int, read, work) -> dict:
        """The one way a request is answered: key, readiness, the body received through a
        guarded reader (a bounded number at once) *before* a check slot is taken, the work
        in the pool within the timeout (scaled by the photos it holds), the slot given back
        when it ends."""
        start = time.perf_counter()
        if api_key:
            given = request.headers.get("x-api-key") or request.headers.get(
                "authorization", ""
            ).removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                raise ApiError(401, "unauthorized", "missing or wrong API key (X-API-Key)")
        checker = state.get("checker")
        if checker is None:
            raise ApiError(503, "not_ready", "the model is still loading", {"Retry-After": "5"})
        check_content_type(request)
        check_length(request, body_limit)
        # The body is received before a check slot is taken (within the whole-body deadline,
        # read_timeout_s): clients that send slowly hold a receiving place, never a slot of
        # the pool, so a crowd of slow uploads cannot turn real checks away. Receiving
        # places are bounded too (a body is spooled to disk past a few MB).
        if checker.receiving >= checker.receiving_places:
            raise ApiError(
                503, "busy", "too many uploads in progress; retry shortly", {"Retry-After": "1"}
            )
        checker.receiving += 1
        reader = BodyReader(
            request.receive,
            body_limit,
            settings.read_timeout_s,
            lambda: app.state.draining,
            each_limit=limit,
        )
        try:
            payload, files = await read(reader)
        finally:
            checker.receiving -= 1
        if checker.busy >= checker.slots:
            for file in files:
                file.close()
            raise ApiError(
                503, "busy", "too many checks in progress; retry shortly", {"Retry-After": "1"}
            )
        checker.busy += 1
        metrics.in_flight.set(checker.busy)

        def finished(_) -> None:
            for file in files:
                file.close()
            _release(checker, metrics)

        submitted = checker.pool.submit(work, checker, payload)
        job = asyncio.wrap_future(submitted)
        job.add_done_callback(finished)
        timeout = settings.timeout_s * max(1, len(files))
        try:
            answer = await asyncio.wait_for(asyncio.shield(job), timeout)
        except TimeoutError:
            # A check still waiting for a thread never starts; one that runs cannot be
            # stopped from here (decoders are C), which is why the decoder refuses what
            # would take long (scan bombs, decompression bombs) before it starts. Its slot
            # is given back when it ends, not before.
            submitted.cancel()
            raise ApiError(504, "timeout", f"the check took longer than {timeout:g} s") from None
        answer["timing_ms"]["total"] = round(1000 * (time.perf_counter() - start), 1)
        metrics.latency.observe(time.perf_counter() - start)
        return answer

    return app


def _drain_on_signals(app: FastAPI):
    """Mark the app as draining when SIGTERM or SIGINT arrives, before passing the signal
    to uvicorn's own handler (which stops accepting and waits for requests in flight): an
    upload still trickling in then gets 503 rather than holding the shutdown. Returns the
    function that puts the handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def drain(sig, frame) -> None:
        app.state.draining = True
        handler = previous[sig]
        if callable(handler):
            handler(sig, frame)
        else:  # no server's handler: the signal does what it did before
            signal.signal(sig, handler)
            signal.raise_signal(sig)

    for sig in previous:
        signal.signal(sig, drain)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def _declare_api_key(app: FastAPI) -> None:
    """Say in the OpenAPI schema that /v1/check and /v1/rank want a key (X-API-Key or
    Bearer)."""

    def schema() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            document.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            }
            for path in ("/v1/check", "/v1/rank"):
                document["paths"][path]["post"]["security"] = [{"ApiKey": []}, {"Bearer": []}]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def _release(checker: Checker, metrics: Metrics) -> None:
    checker.busy -= 1
    metrics.in_flight.set(checker.busy)
    if checker.busy == 0:
        return_free_memory()


def _version() -> str:
    from photoqc._version import __version__

    return __version__
