"""The options and arguments several ``photoqc`` verbs share, declared once.

Each is an ``Annotated`` type: its flag, its help and its checks. A command that takes one
names it as a parameter's type, with the default of the module that owns the setting, so
an option shared by several commands reads the same everywhere; an option only one verb
has is declared in that verb's module. The options that shape the extraction recipe are
gathered by :func:`recipe_options` into one :class:`photoqc.assess.recipe.RecipeOptions`,
the engine options by :func:`engine_options` into one :class:`EngineOptions`.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoqc.assess.recipe import DEFAULT_BATCH_SIZE, RecipeOptions
from photoqc.engines import ENGINES
from photoqc.images import DEFAULT_MAX_PIXELS
from photoqc.segmentation.registry import AUTO, CHOICES, MASKRCNN, MASKRCNN_VARIANTS, choices_help

SegmenterChoice = StrEnum("SegmenterChoice", [(c, c) for c in CHOICES])
"""``--segmenter`` values, from the segmenter registry."""
VariantChoice = StrEnum("VariantChoice", [(v, v) for v in MASKRCNN_VARIANTS])
EngineChoice = StrEnum("EngineChoice", [(e, e) for e in ENGINES])


def option(*flags: str, help: str, **checks: object):
    """A ``typer.Option`` with its help (and checks such as ``min``)."""
    return typer.Option(*flags, help=help, **checks)


def existing_file(help: str):
    """A required argument naming a file that must exist."""
    return typer.Argument(help=help, exists=True, dir_okay=False, show_default=False)


def out(help: str, *, folder: bool | None = False):
    """The required ``--out`` option: a file, a ``folder``, or (None) either."""
    return typer.Option(
        "--out",
        "-o",
        help=help,
        file_okay=folder is not True,
        dir_okay=folder is not False,
        show_default=False,
    )


# --- inputs and engines ---------------------------------------------------------------------

Input = Annotated[
    Path,
    typer.Argument(
        show_default=False,
        help="One photo, a folder of photos (searched recursively for .jpg .jpeg .png .webp "
        ".tif .tiff .bmp .gif .heic .avif), a quoted glob pattern, or a "
        "manifest: a .csv or .parquet file with an `image` column (paths relative to its "
        "folder).",
    ),
]
RAY_PANEL = "Ray (with --engine ray)"
"""Where `--help` lists the options only a Ray run reads."""

Workers = Annotated[
    int | None,
    option(
        "--workers",
        "-w",
        min=1,
        show_default="auto",
        help="Processes in parallel; each loads its models once. Default: one per 100 photos "
        "to score, up to the machine's cores and 1.5 GiB of free memory each (a second "
        "process pays for its start-up from about 200 photos).",
    ),
]
Engine = Annotated[
    EngineChoice,
    option(
        "--engine",
        help="Where batches run: `local` (this machine, `--workers` processes) or `ray` (a "
        "Ray cluster through Ray Data; `score` then writes `--out` as a Parquet dataset "
        "folder; needs `pip install 'photoqc[ray]'`).",
    ),
]
RayAddress = Annotated[
    str | None,
    option(
        "--ray-address",
        rich_help_panel=RAY_PANEL,
        show_default=False,
        help="With --engine ray: the cluster to join (`auto`, `ray://HOST:10001`); its workers "
        "must see the photos and the model folder at the same paths. Default: start a local "
        "Ray on this machine (all its cores) and stop it at the end.",
    ),
]
RayActors = Annotated[
    int | None,
    option(
        "--ray-actors",
        rich_help_panel=RAY_PANEL,
        min=1,
        show_default=False,
        help="With --engine ray: scoring actors, each loading the model once. Default: as "
        "many as the cluster's CPUs hold at --cpus-per-actor, less one.",
    ),
]
CpusPerActor = Annotated[
    float,
    option(
        "--cpus-per-actor",
        rich_help_panel=RAY_PANEL,
        min=0.05,
        help="With --engine ray: CPUs each actor asks for (0.5 leaves room on a 2-core "
        "machine; 1 actor per CPU beside Ray's own work can stall).",
    ),
]
RemoteTimeout = Annotated[
    float,
    option(
        "--remote-timeout-s",
        min=0.001,
        help="Seconds a photo named by an s3:// or gs:// URI may take to read, from the first "
        "connection to the last byte; past it the photo is an error row (also "
        "PHOTOQC_REMOTE_TIMEOUT_S).",
    ),
]
RayCpus = Annotated[
    int | None,
    option(
        "--ray-cpus",
        rich_help_panel=RAY_PANEL,
        min=1,
        show_default=False,
        help="With --engine ray and no --ray-address: CPUs of the local Ray. Default: the "
        "machine's cores.",
    ),
]
GpusPerActor = Annotated[
    float,
    option(
        "--gpus-per-actor",
        rich_help_panel=RAY_PANEL,
        min=0.0,
        help="With --engine ray: GPUs each actor asks for, when the cluster has GPUs (NIMA "
        "runs there); ignored on a cluster without.",
    ),
]
FailOnError = Annotated[
    bool,
    option("--fail-on-error", help="Exit with code 3 when any image could not be processed."),
]


@dataclass(frozen=True)
class EngineOptions:
    """Where batches run, as the options said (:func:`engine_options`)."""

    engine: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    ray_actors: int | None = None
    cpus_per_actor: float = 0.5
    gpus_per_actor: float = 0.0
    ray_cpus: int | None = None
    remote_timeout_s: float | None = None

    def build(self, warn: Callable[[str], None]):
        """The engine these options ask for; ``warn`` says what was changed (more local
        workers than the machine's cores are capped to its cores). The remote read
        deadline goes into the environment, which worker processes inherit."""
        import os

        from photoqc.engines import build_engine
        from photoqc.remote import TIMEOUT_ENV

        if self.remote_timeout_s is not None:
            os.environ[TIMEOUT_ENV] = str(self.remote_timeout_s)

        if self.engine == "ray":
            return build_engine(
                "ray",
                address=self.ray_address,
                actors=self.ray_actors,
                cpus_per_actor=self.cpus_per_actor,
                gpus_per_actor=self.gpus_per_actor,
                num_cpus=self.ray_cpus,
            )
        cores, workers = os.cpu_count() or 1, self.workers
        if workers is None:  # chosen for the run's size (the engine says what it chose)
            return build_engine("local", workers=None)
        if workers > cores:
            warn(f"--workers {workers} is more than this machine's {cores} cores: using {cores}")
            workers = cores
        if workers > 1 and cores <= SMALL_MACHINE_CORES:
            warn(SMALL_MACHINE_WARNING.format(workers=workers, cores=cores))
        return build_engine("local", workers=workers)


SMALL_MACHINE_CORES = 2
SMALL_MACHINE_WARNING = (
    "--workers {workers} on {cores} cores: each process loads the model and the networks "
    "(about 0.4 s more start-up), which pays back from about 200 photos (measured on 2 "
    "cores: 100 photos 5.6 s with 1 worker, 6.0 s with 2; 400 photos 18.7 s and 17.6 s); "
    "without --workers, the count is chosen for the run's size"
)
"""Said when more worker processes are asked for than a small machine can use."""

ENGINE_OPTIONS: dict[str, tuple[object, object]] = {
    "workers": (Workers, None),
    "engine": (Engine, EngineChoice("local")),
    "ray_address": (RayAddress, None),
    "ray_actors": (RayActors, None),
    "cpus_per_actor": (CpusPerActor, 0.5),
    "gpus_per_actor": (GpusPerActor, 0.0),
    "ray_cpus": (RayCpus, None),
    "remote_timeout_s": (RemoteTimeout, None),
}


def engine_options(command):
    """Give a command the engine options; it receives them together as its ``engines``
    argument (an :class:`EngineOptions`)."""
    return _gathered(
        command,
        "engines",
        ENGINE_OPTIONS,
        lambda **v: EngineOptions(**{**v, "engine": v["engine"].value}),
    )


# --- the recipe -------------------------------------------------------------------------------

WeightsDir = Annotated[
    Path | None,
    option(
        "--weights-dir",
        envvar="PHOTOQC_WEIGHTS_DIR",
        file_okay=False,
        help="Folder holding model weight files (Mask R-CNN, NIMA), searched before the "
        "torch hub cache.",
    ),
]
Offline = Annotated[
    bool, option("--offline", help="Never download weights (same as `PHOTOQC_OFFLINE=1`).")
]
NimaWeights = Annotated[
    list[Path] | None,
    option(
        "--nima-weights",
        dir_okay=False,
        help="A NIMA weights file (`.safetensors` from `photoqc nima import` or `nima train`); "
        "repeat for several models. Default: every NIMA file in the weights folder; without "
        "any, the `nima_...` features are empty.",
    ),
]
NoNima = Annotated[
    bool,
    option("--no-nima", help="Leave NIMA off (its `nima_...` features empty), even with weights."),
]
Segmenter = Annotated[
    SegmenterChoice | None,
    option(
        "--segmenter",
        "-s",
        show_default=False,
        help=f"How to find the object: {choices_help()}. Default `{AUTO}`; when scoring, the "
        "model's own (another needs --allow-segmenter-mismatch).",
    ),
]
Variant = Annotated[
    VariantChoice | None,
    option(
        "--maskrcnn-variant",
        show_default=False,
        help="Mask R-CNN version: `v1` (faster on CPU) or `v2` (more accurate). Default "
        f"`{MASKRCNN.defaults['variant']}`.",
    ),
]
AnalysisSize = Annotated[
    int | None,
    option(
        "--analysis-size",
        min=128,
        show_default=False,
        help="Short side (pixels) at which Mask R-CNN looks at a photo. Default "
        f"{MASKRCNN.defaults['analysis_size']}.",
    ),
]
MaxPixels = Annotated[
    int | None,
    option(
        "--max-pixels",
        min=1,
        show_default=False,
        help="Refuse images larger than this many pixels, read from the header before "
        f"decoding (decompression-bomb guard). Default {DEFAULT_MAX_PIXELS:,} (or the model's).",
    ),
]
BatchSize = Annotated[
    int | None,
    option(
        "--batch-size",
        min=1,
        show_default=False,
        help=f"Images per batch (NIMA runs per batch). Default {DEFAULT_BATCH_SIZE}.",
    ),
]

RECIPE_OPTIONS: dict[str, tuple[object, object]] = {
    "segmenter": (Segmenter, None),
    "maskrcnn_variant": (Variant, None),
    "analysis_size": (AnalysisSize, None),
    "weights_dir": (WeightsDir, None),
    "nima_weights": (NimaWeights, None),
    "no_nima": (NoNima, False),
    "max_pixels": (MaxPixels, None),
    "batch_size": (BatchSize, None),
    "offline": (Offline, False),
}
"""The options that shape the extraction recipe: (annotated type, default)."""

ALL_RECIPE_OPTIONS = tuple(RECIPE_OPTIONS)
SCORING_RECIPE_OPTIONS = (
    "segmenter",
    "weights_dir",
    "nima_weights",
    "max_pixels",
    "batch_size",
    "offline",
)
"""What scoring with a model may change of its recipe (the rest is the model's)."""


def recipe_options(*names: str):
    """Give a command the shared recipe options ``names``; it receives them together as
    its ``recipe`` argument (a :class:`RecipeOptions`), after its own parameters in
    ``--help``."""
    options = {name: RECIPE_OPTIONS[name] for name in names}
    return lambda command: _gathered(command, "recipe", options, as_recipe_options)


def _gathered(command, argument: str, options: dict[str, tuple[object, object]], make):
    """``command`` with the ``options`` (name: (annotated type, default)) as its own
    keyword parameters, handed to it as one value, ``make(**values)``, in ``argument``."""
    hints = typing.get_type_hints(command, include_extras=True)
    own = [p for p in inspect.signature(command).parameters.values() if p.name != argument]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, (kind, default) in options.items()
    ]

    @functools.wraps(command)
    def gathered(**values):
        given = {name: values.pop(name) for name in options}
        return command(**values, **{argument: make(**given)})

    own = [p.replace(annotation=hints[p.name], kind=p.KEYWORD_ONLY) for p in own]
    gathered.__signature__ = inspect.Signature([*own, *shared])
    gathered.__annotations__ = {p.name: p.annotation for p in (*own, *shared)}
    return gathered


def as_recipe_options(
    *,
    segmenter: SegmenterChoice | None = None,
    maskrcnn_variant: VariantChoice | None = None,
    analysis_size: int | None = None,
    weights_dir: Path | None = None,
    offline: bool = False,
    no_nima: bool = False,
    nima_weights: list[Path] | None = None,
    max_pixels: int | None = None,
    batch_size: int | None = None,
) -> RecipeOptions:
    """The recipe options of the values given (None: the default, or the model's)."""
    return RecipeOptions(
        segmenter=segmenter.value if segmenter else None,
        maskrcnn_variant=maskrcnn_variant.value if maskrcnn_variant else None,
        analysis_size=analysis_size,
        weights_dir=str(weights_dir) if weights_dir else None,
        offline=offline,
        nima=not no_nima,
        nima_weights=tuple(str(p) for p in nima_weights or ()),
        max_pixels=max_pixels,
        batch_size=batch_size,
    )
