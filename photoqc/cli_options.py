"""Every option and argument of the ``photoqc`` command line, declared once.

Each is an ``Annotated`` type: its flag, its help and its checks. A command that takes one
names it as a parameter's type, with the default of the module that owns the setting
(:class:`photoqc.service.settings.ServeSettings`, :class:`NimaTrainConfig`...), so an
option shared by several commands reads the same everywhere. The options that shape the
extraction recipe are gathered by :func:`recipe_options` into one
:class:`photoqc.assess.recipe.RecipeOptions`.
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
from photoqc.pipelines.training.labels import MOS_TARGETS
from photoqc.segmentation.registry import AUTO, CHOICES, MASKRCNN, MASKRCNN_VARIANTS, choices_help

SegmenterChoice = StrEnum("SegmenterChoice", [(c, c) for c in CHOICES])
"""``--segmenter`` values, from the segmenter registry."""
VariantChoice = StrEnum("VariantChoice", [(v, v) for v in MASKRCNN_VARIANTS])
MosTarget = StrEnum("MosTarget", [(t, t) for t in MOS_TARGETS])
EngineChoice = StrEnum("EngineChoice", [(e, e) for e in ENGINES])


class CopyKind(StrEnum):
    defects = "defects"
    kadid = "kadid"
    mixed = "mixed"


class ReportImages(StrEnum):
    auto = "auto"
    embed = "embed"
    link = "link"


class NimaBackboneChoice(StrEnum):
    mobilenet_v1 = "mobilenet_v1"
    mobilenet_v2 = "mobilenet_v2"


def _option(*flags: str, help: str, **checks: object):
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


def _version(value: bool) -> None:
    if value:
        from photoqc import __version__

        typer.echo(f"photoqc {__version__}")
        raise typer.Exit()


Verbose = Annotated[bool, _option("--verbose", "-v", help="Log progress details (INFO level).")]
Version = Annotated[
    bool,
    _option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
]

# --- inputs, outputs, engines ---------------------------------------------------------------

Input = Annotated[
    Path,
    typer.Argument(
        show_default=False,
        help="A folder of photos (searched recursively for .jpg .jpeg .png .webp .tif .tiff "
        ".bmp .gif .heic .avif) or a CSV file with an `image` column (paths relative to the "
        "CSV's folder).",
    ),
]
FeaturesOut = Annotated[Path, out("Output table: `.parquet` or `.csv`.")]
ScoresOut = Annotated[
    Path,
    out(
        "Scores CSV (appended to and resumed); with --engine ray, a folder of Parquet parts.",
        folder=None,
    ),
]
Workers = Annotated[
    int,
    _option("--workers", "-w", min=1, help="Processes in parallel; each loads its models once."),
]
Engine = Annotated[
    EngineChoice,
    _option(
        "--engine",
        help="Where batches run: `local` (this machine, `--workers` processes) or `ray` (a "
        "Ray cluster through Ray Data; `score` then writes `--out` as a Parquet dataset "
        "folder; needs `pip install 'photoqc[ray]'`).",
    ),
]
RayAddress = Annotated[
    str | None,
    _option(
        "--ray-address",
        show_default=False,
        help="With --engine ray: the cluster to join (`auto`, `ray://HOST:10001`); its workers "
        "must see the photos and the model folder at the same paths. Default: start a local "
        "Ray on this machine (all its cores) and stop it at the end.",
    ),
]
RayActors = Annotated[
    int | None,
    _option(
        "--ray-actors",
        min=1,
        show_default=False,
        help="With --engine ray: scoring actors, each loading the model once. Default: as "
        "many as the cluster's CPUs hold at --cpus-per-actor, less one.",
    ),
]
CpusPerActor = Annotated[
    float,
    _option(
        "--cpus-per-actor",
        min=0.05,
        help="With --engine ray: CPUs each actor asks for (0.5 leaves room on a 2-core "
        "machine; 1 actor per CPU beside Ray's own work can stall).",
    ),
]
RayCpus = Annotated[
    int | None,
    _option(
        "--ray-cpus",
        min=1,
        show_default=False,
        help="With --engine ray and no --ray-address: CPUs of the local Ray. Default: the "
        "machine's cores.",
    ),
]
Carry = Annotated[
    list[str] | None,
    _option(
        "--carry",
        show_default=False,
        help="A column of the input manifest to copy into every output row, after `image` "
        "(e.g. `--carry listing_id`, for `photoqc rank`); give it once per column.",
    ),
]
RankInput = Annotated[
    Path,
    typer.Argument(
        show_default=False,
        help="A CSV (or Parquet) with `image` and the group column, to score; or a scores CSV "
        "written by `photoqc score MANIFEST --carry COLUMN`, ranked without scoring again.",
    ),
]
GroupBy = Annotated[
    str,
    _option(
        "--group-by",
        show_default=False,
        help="The column saying which photos belong to one listing (e.g. `listing_id`).",
    ),
]
RankedOut = Annotated[
    Path, out("Ranked CSV, one row per input photo; the scores go beside it (`OUT.scores.csv`).")
]
PartRows = Annotated[
    int,
    _option(
        "--part-rows",
        min=1,
        help="With --engine ray: rows per Parquet part of --out (a killed run loses at most "
        "the rows not yet in a part; the same command scores them again).",
    ),
]
GpusPerActor = Annotated[
    float,
    _option(
        "--gpus-per-actor",
        min=0.0,
        help="With --engine ray: GPUs each actor asks for, when the cluster has GPUs (NIMA "
        "runs there); ignored on a cluster without.",
    ),
]
FailOnError = Annotated[
    bool,
    _option("--fail-on-error", help="Exit with code 3 when any image could not be processed."),
]
Overwrite = Annotated[
    bool, _option("--overwrite", help="Start the CSV afresh instead of resuming.")
]


@dataclass(frozen=True)
class EngineOptions:
    """Where batches run, as the options said (:func:`engine_options`)."""

    engine: str = "local"
    workers: int = 1
    ray_address: str | None = None
    ray_actors: int | None = None
    cpus_per_actor: float = 0.5
    gpus_per_actor: float = 0.0
    ray_cpus: int | None = None

    def build(self, warn: Callable[[str], None]):
        """The engine these options ask for; ``warn`` says what was changed (more local
        workers than the machine's cores are capped to its cores)."""
        import os

        from photoqc.engines import build_engine

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
        if workers > cores:
            warn(f"--workers {workers} is more than this machine's {cores} cores: using {cores}")
            workers = cores
        return build_engine("local", workers=workers)


ENGINE_OPTIONS: dict[str, tuple[object, object]] = {
    "workers": (Workers, 1),
    "engine": (Engine, EngineChoice("local")),
    "ray_address": (RayAddress, None),
    "ray_actors": (RayActors, None),
    "cpus_per_actor": (CpusPerActor, 0.5),
    "gpus_per_actor": (GpusPerActor, 0.0),
    "ray_cpus": (RayCpus, None),
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
    _option(
        "--weights-dir",
        envvar="PHOTOQC_WEIGHTS_DIR",
        file_okay=False,
        help="Folder holding model weight files (Mask R-CNN, NIMA), searched before the "
        "torch hub cache.",
    ),
]
Offline = Annotated[
    bool, _option("--offline", help="Never download weights (same as `PHOTOQC_OFFLINE=1`).")
]
NimaWeights = Annotated[
    list[Path] | None,
    _option(
        "--nima-weights",
        dir_okay=False,
        help="A NIMA weights file (`.safetensors` from `photoqc nima import` or `nima train`); "
        "repeat for several models. Default: every NIMA file in the weights folder; without "
        "any, the `nima_...` features are empty.",
    ),
]
NoNima = Annotated[
    bool,
    _option("--no-nima", help="Leave NIMA off (its `nima_...` features empty), even with weights."),
]
Segmenter = Annotated[
    SegmenterChoice | None,
    _option(
        "--segmenter",
        "-s",
        show_default=False,
        help=f"How to find the object: {choices_help()}. Default `{AUTO}`; when scoring, the "
        "model's own (another needs --allow-segmenter-mismatch).",
    ),
]
Variant = Annotated[
    VariantChoice | None,
    _option(
        "--maskrcnn-variant",
        show_default=False,
        help="Mask R-CNN version: `v1` (faster on CPU) or `v2` (more accurate). Default "
        f"`{MASKRCNN.defaults['variant']}`.",
    ),
]
AnalysisSize = Annotated[
    int | None,
    _option(
        "--analysis-size",
        min=128,
        show_default=False,
        help="Short side (pixels) at which Mask R-CNN looks at a photo. Default "
        f"{MASKRCNN.defaults['analysis_size']}.",
    ),
]
MaxPixels = Annotated[
    int | None,
    _option(
        "--max-pixels",
        min=1,
        show_default=False,
        help="Refuse images larger than this many pixels, read from the header before "
        f"decoding (decompression-bomb guard). Default {DEFAULT_MAX_PIXELS:,} (or the model's).",
    ),
]
BatchSize = Annotated[
    int | None,
    _option(
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


# --- models, labels, scoring --------------------------------------------------------------

Model = Annotated[
    Path | None,
    _option(
        "--model",
        "-m",
        file_okay=False,
        show_default=False,
        help="Model folder from `photoqc train`. Default: the built-in model.",
    ),
]
TunedModel = Annotated[
    Path,
    _option(
        "--model",
        "-m",
        file_okay=False,
        show_default=False,
        help="The model folder that made the scores (`--write` updates its threshold).",
    ),
]
ReportModel = Annotated[
    Path | None,
    _option(
        "--model",
        "-m",
        file_okay=False,
        help="The model that made the scores: verdicts at its current threshold, its "
        "reasons and feature pushes, and its own masks. Without it the CSV is shown as written.",
    ),
]
MosThreshold = Annotated[
    float | None,
    _option(
        "--mos-threshold",
        help="For MOS labels: the MOS at which a photo turns good (soft target "
        "sigmoid((mos - T) / s) in training, recorded in the model; `tune` reads it from "
        "there unless given).",
    ),
]
MosScale = Annotated[
    float, _option("--mos-scale", help="The s of that sigmoid (or line), MOS units.")
]
MosTargetOption = Annotated[
    MosTarget,
    _option(
        "--mos-target",
        help="How a MOS becomes a soft target: `sigmoid` sigmoid((mos - T) / s), or `linear` "
        "0.5 + (mos - T) / (2 s), clipped to 0–1 (T = 50, s = 50: MOS / 100).",
    ),
]
Copies = Annotated[
    int,
    _option(
        "--copies",
        min=0,
        help="Degraded copies per good photo (noise, JPEG, blur, exposure, colour cast; or "
        "KADID-10k's 25 types with --copy-kind kadid; the two in turn with --copy-kind "
        "mixed, as the default model is trained: --copies 8 --copy-kind mixed) to learn "
        "defects the photos lack; 0 for none.",
    ),
]
CopyKindOption = Annotated[
    CopyKind,
    _option(
        "--copy-kind",
        help="`defects`: 6 defects, target scaled by severity; `kadid`: KADID-10k's 25 "
        "distortion types at levels 1-5, target scaled by the copy's fidelity to its original "
        "(SSIM over Lab) cubed; `mixed`: a photo's copies alternate between the two.",
    ),
]
CopyWeight = Annotated[
    float,
    _option("--copy-weight", min=0.0, help="Training weight of a copy (a real photo weighs 1)."),
]
NoMonotone = Annotated[
    bool,
    _option(
        "--no-monotone",
        help="Let features act either way (default: more blur, noise, clipping or blocking is "
        "never better).",
    ),
]
MinShortSide = Annotated[
    int,
    _option(
        "--min-short-side",
        min=0,
        help="Photos whose short side has fewer pixels are bad (too small to publish), "
        "whatever the classifier says; recorded in the model.",
    ),
]
TunedMinShortSide = Annotated[
    int | None,
    _option(
        "--min-short-side",
        min=0,
        show_default=False,
        help="Change the model's minimum short side (pixels) for publishing; with --write, "
        "stored in the model (alone, it needs no threshold rule).",
    ),
]
Folds = Annotated[int, _option("--folds", min=2, help="Cross-validation folds.")]
TrainSeed = Annotated[int, _option("--seed", help="Seed of the folds and of LightGBM's sampling.")]
CacheDir = Annotated[
    Path | None,
    _option(
        "--cache-dir",
        envvar="PHOTOQC_CACHE_DIR",
        file_okay=False,
        help="Feature cache folder (default `~/.cache/photoqc`).",
    ),
]
NoCache = Annotated[bool, _option("--no-cache", help="Neither read nor write the feature cache.")]
Shap = Annotated[bool, _option("--shap", help="Add a `shap_FEATURE` column per model feature.")]
ScoreReasons = Annotated[int, _option("--reasons", min=1, help="Most reasons per bad photo.")]
ExplainReasons = Annotated[int, _option("--reasons", min=1, help="Most reasons to list.")]
AllowMismatch = Annotated[
    bool,
    _option(
        "--allow-segmenter-mismatch",
        help="Score with another segmenter than the model's (or fall back when its weights "
        "are missing); object features then mean something else.",
    ),
]
Waterfall = Annotated[
    Path | None,
    _option(
        "--waterfall",
        dir_okay=False,
        help="Save a chart (PNG) of the features that pushed the verdict most.",
    ),
]

# --- tuning and the report ----------------------------------------------------------------

Labels = Annotated[
    Path,
    _option(
        "--labels",
        exists=True,
        dir_okay=False,
        show_default=False,
        help="Hand labels for (some of) the scored photos.",
    ),
]
TuneScores = Annotated[
    Path,
    existing_file(
        "Scores CSV from `photoqc score` on labelled photos the model never saw, or the "
        "model's own `cv_predictions.csv` (out-of-fold: the honest choice for its training "
        "labels)."
    ),
]
TargetPrecision = Annotated[
    float | None,
    _option(
        "--target-precision",
        min=0.0,
        max=1.0,
        help="Lowest threshold whose precision (share of accepted photos that are good) "
        "is at least P.",
    ),
]
CostAcceptBad = Annotated[
    float | None, _option("--cost-accept-bad", min=0.0, help="Cost of publishing one bad photo.")
]
CostRejectGood = Annotated[
    float | None, _option("--cost-reject-good", min=0.0, help="Cost of rejecting one good photo.")
]
Write = Annotated[bool, _option("--write", help="Store the chosen threshold in the model folder.")]
ReportImagesOption = Annotated[
    ReportImages,
    _option(
        "--images",
        help="`embed` pictures in the HTML, `link` them from a folder `REPORT_files/` beside "
        "it, or `auto` (embed up to 2,000 rows).",
    ),
]
Overlays = Annotated[
    bool,
    _option(
        "--overlays/--no-overlays",
        help="Draw the object mask (re-runs the segmenter on each photo).",
    ),
]

# --- the demo --------------------------------------------------------------------------------

DemoOut = Annotated[Path, _option("--out", "-o", file_okay=False, help="Folder for everything.")]
DemoWorkers = Annotated[int, _option("--workers", "-w", min=1, help="Processes in parallel.")]
DemoSegmenter = Annotated[
    SegmenterChoice,
    _option("--segmenter", "-s", help="`fastcut` needs no weights; `none` is fastest."),
]
DemoCrops = Annotated[
    int, _option("--crops", min=1, help="Crops per source photo (more: bigger set).")
]

# --- the service -------------------------------------------------------------------------------

Host = Annotated[str, _option("--host", help="Address to listen on (0.0.0.0: every interface).")]
Port = Annotated[int, _option("--port", min=1, max=65535, help="TCP port to listen on.")]
ServeWorkers = Annotated[
    int,
    _option(
        "--workers",
        min=1,
        help="Server processes, each loading the model once (about 1 per 2 cores).",
    ),
]
Threads = Annotated[
    int, _option("--threads", min=1, help="Checks run at once in each process (its CPU pool).")
]
Queue = Annotated[
    int, _option("--queue", min=0, help="Checks that may wait per process; more get 503.")
]
MaxUploadMb = Annotated[
    float,
    _option("--max-upload-mb", min=0.001, help="Largest upload, MB; larger gets 413 unread."),
]
MaxPhotos = Annotated[
    int,
    _option("--max-photos", min=1, help="Most photos one `POST /v1/rank` may send; more get 413."),
]
NimaBatchMs = Annotated[
    float,
    _option(
        "--nima-batch-ms",
        min=0.0,
        help="Milliseconds a photo waits for other requests' photos to share NIMA's forward "
        "pass (0: no waiting).",
    ),
]
ApiKeyEnv = Annotated[
    str | None,
    _option(
        "--api-key-env",
        help="Name of an environment variable holding the API key that clients must send "
        "as `X-API-Key` (or `Authorization: Bearer`); default: no key.",
    ),
]
ReadTimeoutS = Annotated[
    float,
    _option(
        "--read-timeout-s",
        min=0.1,
        help="Seconds a client may take to send its headers, and again its whole body; "
        "slower ones get 408 and are disconnected.",
    ),
]
TimeoutS = Annotated[
    float, _option("--timeout-s", min=0.001, help="Seconds a check may take before 504.")
]

# --- NIMA ------------------------------------------------------------------------------------

NimaFile = Annotated[
    Path,
    existing_file(
        "idealo's NIMA MobileNet weights: Keras `.hdf5`/`.h5` or TensorFlow Lite `.tflite`."
    ),
]
NimaOut = Annotated[Path, out("Output `.safetensors`; a `.json` description is written beside it.")]
NimaName = Annotated[
    str | None,
    _option(
        "--name",
        help="Model name for the feature columns (`nima_NAME_mean`). Default: what the file "
        "is known to be (`technical`, `aesthetic`), else what its file name says.",
    ),
]
TrainedOn = Annotated[
    str | None,
    _option(
        "--trained-on",
        help="What the weights were trained on (recorded in the JSON); known for idealo's files.",
    ),
]
Half = Annotated[
    bool, _option("--half", help="Store the weights as float16: half the size, same scores.")
]
Ratings = Annotated[
    Path,
    existing_file("CSV with `image` and either `votes_1`..`votes_10` or `mos` (+ optional `std`)."),
]
NimaTrainOut = Annotated[
    Path, out("Output folder: checkpoint, `nima_NAME.safetensors`, `metrics.json`.", folder=True)
]
Init = Annotated[
    Path | None,
    _option(
        "--init",
        exists=True,
        dir_okay=False,
        help="Weights to fine-tune (e.g. imported idealo weights). Default: "
        "ImageNet weights for torchvision backbones, else from scratch with a warning.",
    ),
]
Backbone = Annotated[
    NimaBackboneChoice, _option("--backbone", help="The network under NIMA's head.")
]
TrainedName = Annotated[
    str, _option("--name", help="Model name (feature columns `nima_NAME_mean`, `nima_NAME_std`).")
]
MosRange = Annotated[
    tuple[float, float],
    _option("--mos-range", help="Scale of `mos` (and `std`), mapped onto 1..10, e.g. `0 100`."),
]
EpochsHead = Annotated[int, _option("--epochs-head", min=0, help="Epochs training the head alone.")]
EpochsAll = Annotated[int, _option("--epochs-all", min=0, help="Epochs training all layers.")]
LrHead = Annotated[float, _option("--lr-head", help="Learning rate of the head stage.")]
LrAll = Annotated[float, _option("--lr-all", help="Learning rate of the all-layers stage.")]
StepBatch = Annotated[int, _option("--batch-size", min=1, help="Images per training step.")]
ValFraction = Annotated[
    float,
    _option("--val-fraction", min=0.0, max=0.9, help="Share of images held out for validation."),
]
NimaSeed = Annotated[int, _option("--seed", help="Seed of the split, order, crops and flips.")]
MaxSteps = Annotated[int | None, _option("--max-steps", min=1, help="Cap on steps per epoch.")]
Restart = Annotated[bool, _option("--restart", help="Ignore an existing checkpoint in --out.")]


DEFAULT_MODEL_NOTE = (
    "using photoqc's built-in default model (trained on real phone photos of everyday "
    "scenes scored by people, CLIVE). For your own domain, train on your hand labels and "
    "pass --model."
)

TUNE_FLAGS = {
    "target_precision": "--target-precision",
    "cost_accept_bad": "--cost-accept-bad",
    "cost_reject_good": "--cost-reject-good",
    "mos_threshold": "--mos-threshold",
}

APP_HELP = (
    "Decide whether listing photos are technically good enough to publish, and say why.\n\n"
    "Try it: `photoqc demo` (offline, about 2 minutes). Then: `photoqc train LABELS.csv "
    "--out model/`, `photoqc score PHOTOS/ --model model/ --out scores.csv`, `photoqc explain "
    "PHOTO --model model/`, `photoqc report scores.csv --out report.html`. "
    "`photoqc features PHOTOS/ --out features.parquet` measures brightness, contrast, "
    "clipping, sharpness, noise, compression and object-versus-background light without "
    "a model. `photoqc serve` answers uploads over HTTP (`POST /v1/check`) and shows a "
    "page to drop a photo on. "
    "`photoqc rank MANIFEST --group-by listing_id --out ranked.csv` chooses each listing's "
    "cover photo."
)
