"""The ``ray`` engine: batches run on a Ray cluster, through Ray Data.

The driver (this process) hands over only names and paths: the batches it is given are
put into Ray's object store, a block each (:func:`ray.data.from_arrow_refs`), a wave of
:data:`WAVE_BATCHES` at a time, so the driver never holds more than a wave of a manifest,
and the pixels are read by the workers.
One Ray Data stage runs the job's processor in a pool of actors
(``map_batches`` with a callable class and ``compute=ActorPoolStrategy``): each actor
builds the processor once (the model and its networks load once per actor, never per
batch) and turns each batch into rows; the rows come back to the driver in input order
(``preserve_order``), where the runner writes them (:mod:`photoqc.pipelines.batch.runner`).
One stage rather than a CPU stage for decoding and an actor stage for NIMA: the decoded
pixels of a batch (tens of MB) would cross the object store between them, and on the small
machines measured the single stage was faster (README, "Ray").

Without an address a local Ray starts on this machine (all its cores, a small object
store) and stops at the end; with one (``auto``, ``ray://host:10001``) the run joins that
cluster, whose workers must see the photos and the model folder at the same paths.

CPU requests are sized so that no stage can starve another on a small machine: the actors
ask for ``cpus_per_actor`` (0.5 by default: on 2 cores, 2 actors and Ray's own work fit;
2 actors at 1 CPU each beside anything else stall for ever), and each sets its thread pools
to what it asked for, at least one thread.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import math
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from photoqc.assess.items import InputItem
from photoqc.engines.base import Batch, Job, Row
from photoqc.errors import PhotoqcError

logger = logging.getLogger(__name__)

DEFAULT_CPUS_PER_ACTOR = 0.5
"""CPUs each scoring actor asks Ray for (measured: see README, "Ray")."""

OBJECT_STORE_MB = 256
"""Object store of a local Ray (it holds names, paths and rows, never pixels)."""

WAVE_BATCHES = 2048
"""Batches handed to Ray as one dataset (32,768 inputs at the default batch size): the
driver holds one wave's inputs and their object references at a time, so a manifest of
millions of rows streams through it. Each wave starts its actors again (each loads the
model, seconds against the wave's minutes of scoring)."""


class RayEngineError(PhotoqcError):
    """Ray is missing, or the cluster cannot be joined or cannot run the actors."""


class RayEngine:
    """Batches on Ray: a local Ray, or the cluster at ``address``.

    Parameters
    ----------
    address : str, optional
        ``auto`` or ``ray://host:port`` to join a cluster; None starts a local Ray.
    actors : int, optional
        Scoring actors (default: 2 per 1 CPU of the cluster's, at ``cpus_per_actor``, at
        least one).
    cpus_per_actor, gpus_per_actor : float
        Resources each actor asks for; GPUs only when the cluster has them.
    batch_rows : int, optional
        Inputs per actor call (default: the job's batch size).
    num_cpus : int, optional
        CPUs of a local Ray (default: the machine's cores).
    workers : int
        Ignored (``--workers`` belongs to the local engine).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        actors: int | None = None,
        cpus_per_actor: float = DEFAULT_CPUS_PER_ACTOR,
        gpus_per_actor: float = 0.0,
        batch_rows: int | None = None,
        num_cpus: int | None = None,
        workers: int = 1,
    ):
        if cpus_per_actor <= 0 or gpus_per_actor < 0:
            raise ValueError("cpus_per_actor must be > 0 and gpus_per_actor >= 0")
        self.address = address
        self.actors = actors
        self.cpus_per_actor = cpus_per_actor
        self.gpus_per_actor = gpus_per_actor
        self.batch_rows = batch_rows
        self.num_cpus = num_cpus
        self.placement: Placement | None = None
        """After a run: which nodes and actors made its rows."""

    def where(self) -> str | None:
        """What the last run's placement was, in words (None before any run)."""
        return str(self.placement) if self.placement and self.placement.rows_per_node else None

    def batch_size(self, n_items: int, preferred: int) -> int:
        return self.batch_rows or preferred

    def run(self, batches: Iterable[Batch], job: Job) -> Iterator[tuple[Batch, list[Row]]]:
        """Every batch's rows, in input order (blocks of the output need not match the
        batches given: each is yielded with the inputs its rows belong to)."""
        ray = _ray()
        started_here = not ray.is_initialized()
        if started_here:
            self._start(ray)
        try:
            yield from self._run(ray, batches, job)
        finally:
            if started_here:
                ray.shutdown()

    def _start(self, ray) -> None:
        logging.getLogger("ray").setLevel(logging.WARNING)
        if self.address:
            _check_listening(self.address)
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            else:
                ray.init(
                    num_cpus=self.num_cpus or os.cpu_count() or 1,
                    object_store_memory=OBJECT_STORE_MB << 20,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or "this machine"
            raise RayEngineError(f"cannot start or join Ray on {where}: {exc}") from None
        private_token()

    def _pool_size(self, ray) -> int:
        if self.actors:
            return self.actors
        cpus = float(ray.cluster_resources().get("CPU", 1))
        return max(1, math.floor(cpus / self.cpus_per_actor) - 1)

    def _run(self, ray, batches: Iterable[Batch], job: Job) -> Iterator[tuple[Batch, list[Row]]]:
        """The run in waves of :data:`WAVE_BATCHES` batches: the driver holds one wave's
        inputs at a time, whatever the input's length."""
        self.placement = Placement()
        batches = iter(batches)
        while wave := list(itertools.islice(batches, WAVE_BATCHES)):
            yield from self._run_wave(ray, wave, job)

    def _run_wave(self, ray, batches: list[Batch], job: Job) -> Iterator[tuple[Batch, list[Row]]]:
        import pyarrow as pa
        from ray.data import ActorPoolStrategy, DataContext

        # One block a batch: the unit Ray hands to an actor, so every actor gets work, and
        # rows come back (and parts get written) as batches finish.
        blocks = [ray.put(_block(batch, pa)) for batch in batches]
        if not blocks:
            return
        context = DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        gpus = self.gpus_per_actor if ray.cluster_resources().get("GPU", 0) else 0
        size = self._pool_size(ray)
        threads = max(1, math.floor(self.cpus_per_actor))
        rows = ray.data.from_arrow_refs(blocks).map_batches(
            _Actor,
            fn_constructor_args=(job.factory, job.args, threads),
            # Actors asked for by number all start (on a cluster, spread over its nodes).
            compute=ActorPoolStrategy(min_size=self.actors or 1, max_size=size),
            num_cpus=self.cpus_per_actor,
            num_gpus=gpus,
            batch_size=self.batch_rows or job.batch_size,
            batch_format="pyarrow",
        )
        for table in rows.iter_batches(batch_format="pyarrow", batch_size=None):
            self.placement.add(table.column("node").to_pylist(), table.column("actor").to_pylist())
            positions = table.column("position").to_pylist()
            images = table.column("image").to_pylist()
            sources = table.column("source").to_pylist()
            batch = [
                (p, InputItem(i, s)) for p, i, s in zip(positions, images, sources, strict=True)
            ]
            yield batch, [row_from_json(r) for r in table.column("row").to_pylist()]


RAY_TOKEN_FILE = Path.home() / ".ray" / "auth_token"
"""Where Ray keeps the token a local cluster with token authentication made."""


def private_token(path: Path = RAY_TOKEN_FILE) -> None:
    """Ray writes its token file readable by everyone (0644): made this user's alone (0600)
    when it is this user's (anyone who reads it may submit work to the cluster)."""
    try:
        info = path.lstat()
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        pass


_ARRAY = "__photoqc_array__"


def _array_to_json(value: object) -> object:
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {
            _ARRAY: base64.b64encode(data.tobytes()).decode("ascii"),
            "dtype": data.dtype.str,
            "shape": list(data.shape),
        }
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot send a {type(value).__name__} in a row")


def _array_from_json(value: dict) -> object:
    if _ARRAY not in value:
        return value
    dtype = np.dtype(value["dtype"])
    if dtype.kind not in "fiub":  # numbers only: nothing that could hold objects
        raise ValueError(f"a row's array has dtype {dtype}")
    data = base64.b64decode(value[_ARRAY])
    return np.frombuffer(data, dtype).reshape(value["shape"]).copy()


def row_to_json(row: dict) -> str:
    """A row as JSON text; NaN kept, and numpy arrays (a row's NIMA embeddings and
    multi-level stats, for training) carried bit for bit."""
    return json.dumps(row, default=_array_to_json)


def row_from_json(text: str) -> dict:
    """The row :func:`row_to_json` wrote, arrays back as numpy arrays."""
    return json.loads(text, object_hook=_array_from_json)


class Placement:
    """Where a run's rows were made: rows per Ray node, and the actors that made them."""

    def __init__(self):
        self.rows_per_node: Counter[str] = Counter()
        self.actors: set[str] = set()

    def add(self, nodes: list[str], actors: list[str]) -> None:
        self.rows_per_node.update(nodes)
        self.actors.update(actors)

    def __str__(self) -> str:
        nodes, actors = len(self.rows_per_node), len(self.actors)
        per_node = ", ".join(
            f"node {node[:8]}: {rows} rows" for node, rows in sorted(self.rows_per_node.items())
        )
        return (
            f"scored on {nodes} node{'s' if nodes != 1 else ''} by {actors} "
            f"actor{'s' if actors != 1 else ''} ({per_node})"
        )


def _block(pairs: list[tuple[int, InputItem]], pa):
    """Inputs as an Arrow table: position in the run, name, and where to read it."""
    return pa.table(
        {
            "position": pa.array([p for p, _ in pairs], pa.int64()),
            "image": pa.array([item.image for _, item in pairs], pa.string()),
            "source": pa.array([os.fspath(item.source) for _, item in pairs], pa.string()),
        }
    )


class _Actor:
    """One Ray actor: the job's processor, built once, turning blocks of inputs into rows
    (as JSON text, so that every value, NaN included, comes back exactly)."""

    def __init__(self, factory, args: tuple, threads: int):
        from photoqc.engines.local import set_thread_count

        set_thread_count(threads)
        self.processor = factory(*args)

    def close(self) -> None:
        """Let go of the processor's threads and networks (an actor Ray ends is a process
        that ends; one that lives on in a long-running cluster process lets them go here)."""
        from photoqc.engines.base import close_processor

        processor, self.processor = getattr(self, "processor", None), None
        if processor is not None:
            close_processor(processor)

    def __del__(self) -> None:
        self.close()

    def __call__(self, block):
        import pyarrow as pa

        items = [
            InputItem(image, source)
            for image, source in zip(
                block.column("image").to_pylist(), block.column("source").to_pylist(), strict=True
            )
        ]
        rows = self.processor.rows(items)
        import ray

        here = ray.get_runtime_context()
        out = block.append_column("row", pa.array([row_to_json(row) for row in rows], pa.string()))
        out = out.append_column("node", pa.array([here.get_node_id()] * len(rows), pa.string()))
        return out.append_column("actor", pa.array([here.get_actor_id()] * len(rows), pa.string()))


def _check_listening(address: str, timeout_s: float = 5.0) -> None:
    """Refuse at once, in one line, an address where nothing listens (``ray.init`` would
    wait a long while and then fail with a traceback). ``auto`` is Ray's to find."""
    import socket
    from urllib.parse import urlsplit

    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    default = 10001 if address.startswith("ray://") else 6379
    try:
        host, port = parts.hostname or "127.0.0.1", parts.port or default
    except ValueError:
        raise RayEngineError(f"--ray-address {address}: not HOST:PORT or ray://HOST:PORT") from None
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise RayEngineError(
            f"nothing listens at {address} ({exc.strerror or exc}): start the cluster there "
            "(`ray start --head`) or check --ray-address"
        ) from None


def _ray():
    try:
        import ray
    except ImportError:
        raise RayEngineError(
            "the ray engine needs Ray: pip install 'photoqc[ray]' (or 'ray[data]')"
        ) from None
    return ray
