"""The extraction recipe: how features are made, owned in one place.

An :class:`ExtractConfig` says everything besides the pixels that decides a feature row:
the segmenter and its settings (and weights), the NIMA weight files, the analysis scale,
the pixel limit and the batch size. It is the only place that

- resolves what a user asked for (:class:`RecipeOptions`, from CLI options or a caller)
  into a recipe: :meth:`ExtractConfig.resolve`;
- writes a recipe into a model's ``photoqc.json``: :meth:`ExtractConfig.record`;
- reads it back from a model, so scoring makes the features the model was trained on:
  :meth:`ExtractConfig.from_record`;
- fingerprints it for the feature cache and the scores CSV: :meth:`ExtractConfig.fingerprint`.

Defaults are spelled here (batch size) or in the module that owns them (segmenter settings
in :mod:`photoqc.segmentation.registry`, the pixel limit in :mod:`photoqc.images`, the
analysis scale in :mod:`photoqc.features.inputs`), never in callers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from photoqc.errors import PhotoqcError
from photoqc.features import FeatureGroup, FeatureSpec, feature_names, spec_index, table_groups
from photoqc.features.inputs import ANALYSIS_LONG_SIDE
from photoqc.features.nima import DEFAULT_NIMA_MODELS
from photoqc.images import DEFAULT_MAX_PIXELS
from photoqc.segmentation import SegmenterConfig
from photoqc.segmentation.registry import AUTO, entry

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 16
"""Images per batch: NIMA runs once per batch; workers take a batch at a time."""

META_COLUMNS = (
    "image",
    "status",
    "error",
    "segmenter",
    "segmenter_weights",
    "object_class",
    "object_score",
    "nima",
)
"""Columns of a feature row before the features: identity, outcome, provenance."""

TEXT_COLUMNS = tuple(c for c in META_COLUMNS if c != "object_score")
"""Columns of a feature row that hold text; every other column is a number."""

NIMA_OFF_WARNING = (
    "NIMA is off: no NIMA weights found (photoqc ships idealo's; was the package installed "
    "whole?), so the nima_* features are empty. Pass --nima-weights FILE (once per model, "
    "from `photoqc nima import`) or put the files in --weights-dir / $PHOTOQC_WEIGHTS_DIR."
)


class RecipeError(PhotoqcError):
    """The recipe cannot be made as asked (weights missing or not the model's, segmenter
    mismatch, unreadable NIMA file); the message says what to do."""


@dataclass(frozen=True)
class RecipeOptions:
    """What a user asked for; None means "the default" (or, for a model, "the model's").

    Attributes
    ----------
    segmenter : str or None
        ``--segmenter``: ``auto`` or a registry name.
    maskrcnn_variant, analysis_size : optional
        Mask R-CNN settings (``--maskrcnn-variant``, ``--analysis-size``).
    weights_dir : str or None
        Folder searched first for weight files.
    offline : bool
        Never download weights.
    nima : bool
        Use NIMA when its weights can be found (``--no-nima`` turns it off).
    nima_weights : tuple of str
        Explicit NIMA weight files (``--nima-weights``).
    max_pixels, batch_size : int or None
    allow_segmenter_mismatch : bool
        Score with another segmenter than the model's, or fall back when its weights are
        missing.
    """

    segmenter: str | None = None
    maskrcnn_variant: str | None = None
    analysis_size: int | None = None
    weights_dir: str | None = None
    offline: bool = False
    nima: bool = True
    nima_weights: tuple[str, ...] = ()
    max_pixels: int | None = None
    batch_size: int | None = None
    allow_segmenter_mismatch: bool = False

    def segmenter_options(self) -> dict[str, object]:
        """The segmenter settings given (others keep the registry's defaults)."""
        given = {"variant": self.maskrcnn_variant, "analysis_size": self.analysis_size}
        return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class NimaFile:
    """A NIMA weight file as a recipe uses it: the model name its columns carry
    (``nima_<name>_*``, from the weights' own description), the path, its sha256."""

    name: str
    path: str
    sha256: str

    def record(self) -> dict[str, str]:
        return {"name": self.name, "file": Path(self.path).name, "sha256": self.sha256}


@dataclass(frozen=True)
class ExtractConfig:
    """Everything that decides a feature row besides the pixels (plain, picklable data).

    Attributes
    ----------
    segmenter : SegmenterConfig
        Resolved by :meth:`resolve` / :meth:`from_record` (``auto`` resolves on first use).
    nima : tuple of NimaFile
        NIMA models to run; empty means NIMA is off.
    max_pixels : int
        Decompression-bomb limit, pixels.
    analysis_long_side : int
        Long side of the features' analysis scale, pixels.
    batch_size : int
        Images per batch.
    """

    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    nima: tuple[NimaFile, ...] = ()
    max_pixels: int = DEFAULT_MAX_PIXELS
    analysis_long_side: int = ANALYSIS_LONG_SIDE
    batch_size: int = DEFAULT_BATCH_SIZE

    # --- what the recipe makes ------------------------------------------------------

    @property
    def nima_weights(self) -> tuple[str, ...]:
        """Paths of the NIMA weight files, one per model."""
        return tuple(f.path for f in self.nima)

    @property
    def nima_models(self) -> tuple[str, ...]:
        """NIMA model names that get columns: the defaults, then those configured."""
        return tuple(dict.fromkeys([*DEFAULT_NIMA_MODELS, *(f.name for f in self.nima)]))

    def groups(self) -> tuple[FeatureGroup, ...]:
        return table_groups(self.nima_models)

    def feature_names(self) -> tuple[str, ...]:
        return feature_names(self.groups())

    def specs(self) -> dict[str, FeatureSpec]:
        """Each feature's spec (family, direction, phrase) by name."""
        return spec_index(self.groups())

    def columns(self) -> tuple[str, ...]:
        """Column order of the feature table this recipe produces."""
        return (*META_COLUMNS, *self.feature_names())

    # --- record and fingerprint -------------------------------------------------------

    def record(self) -> dict[str, object]:
        """The recipe as a model's ``photoqc.json`` keeps it: file names and hashes, not
        local paths."""
        seg = self.segmenter
        return {
            "segmenter": {
                "kind": seg.kind,
                "settings": seg.settings,
                "weights": Path(seg.weights_file).name if seg.weights_file else None,
            },
            "nima": [f.record() for f in self.nima],
            "analysis_long_side": self.analysis_long_side,
            "max_pixels": self.max_pixels,
        }

    def fingerprint(self) -> str:
        """A short hash of everything besides the pixels that shapes a feature row (the
        recipe, the feature names, the photoqc version); 16 hex digits."""
        from photoqc._version import __version__

        record = self.record()
        record.pop("max_pixels")  # refuses files, never changes a row that is made
        description = {
            "photoqc": __version__,
            "recipe": record,
            "features": list(self.feature_names()),
        }
        text = json.dumps(description, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # --- making a recipe ----------------------------------------------------------------

    @classmethod
    def resolve(cls, options: RecipeOptions | None = None) -> tuple[ExtractConfig, list[str]]:
        """A recipe from what the user asked for, resolved once in this process: ``auto``
        decided, weights found (or downloaded) and NIMA files read.

        Returns the recipe and warnings to show once (fallbacks, NIMA off).

        Raises
        ------
        RecipeError
            An explicit segmenter's weights cannot be had, or a NIMA file is unusable.
        """
        options = options or RecipeOptions()
        warnings: list[str] = []
        segmenter, warning = _resolve_segmenter(
            SegmenterConfig(
                kind=options.segmenter or AUTO,
                options=options.segmenter_options(),
                weights_dir=options.weights_dir,
                allow_download=not options.offline,
            )
        )
        warnings += [warning] if warning else []
        nima = _nima_files(options) if options.nima else ()
        if options.nima and not nima:
            warnings.append(NIMA_OFF_WARNING)
        config = cls(
            segmenter=segmenter,
            nima=nima,
            max_pixels=options.max_pixels or DEFAULT_MAX_PIXELS,
            batch_size=options.batch_size or DEFAULT_BATCH_SIZE,
        )
        return config, warnings

    @classmethod
    def from_record(
        cls,
        record: Mapping[str, object],
        options: RecipeOptions | None = None,
        *,
        used_features: Sequence[str] | None = None,
    ) -> tuple[ExtractConfig, list[str]]:
        """The recipe a model was trained with, made again here (see :meth:`record`).

        The segmenter is the model's with its settings, unless ``options.segmenter`` names
        another and ``options.allow_segmenter_mismatch`` is set. NIMA weights must be the
        very files (by sha256) the model was trained with, for every NIMA feature in
        ``used_features`` (default: every NIMA model the record names).

        Raises
        ------
        RecipeError
        """
        options = options or RecipeOptions()
        warnings: list[str] = []
        trained = _segmenter_record(record)
        kind = str(trained["kind"])
        settings = dict(trained["settings"])
        if options.segmenter and options.segmenter != kind:
            if not options.allow_segmenter_mismatch:
                raise RecipeError(
                    f"the model was trained with the {kind!r} segmenter, not "
                    f"{options.segmenter!r}; its object features would mean something else. "
                    "Pass --allow-segmenter-mismatch to do it anyway"
                )
            warnings.append(
                f"scoring with segmenter {options.segmenter!r}; the model was trained with {kind!r}"
            )
            kind, settings = options.segmenter, options.segmenter_options()
        wanted = SegmenterConfig(
            kind=kind,
            options=settings,
            weights_dir=options.weights_dir,
            allow_download=not options.offline,
        )
        try:
            segmenter, warning = _resolve_segmenter(wanted)
        except RecipeError:
            if not options.allow_segmenter_mismatch:
                raise
            segmenter, warning = _resolve_segmenter(replace(wanted, kind=AUTO))
            warnings.append(
                f"the model's {kind!r} segmenter is unavailable here; scoring with "
                f"{segmenter.kind!r} as --allow-segmenter-mismatch allows"
            )
        warnings += [warning] if warning else []
        recorded_weights = trained.get("weights")
        if segmenter.kind == kind and recorded_weights and segmenter.weights_file:
            if Path(segmenter.weights_file).name != recorded_weights:
                warnings.append(
                    f"the model was trained with {kind} weights {recorded_weights}; using "
                    f"{Path(segmenter.weights_file).name}"
                )
        config = cls(
            segmenter=segmenter,
            nima=_model_nima_files(record, options, used_features),
            max_pixels=int(options.max_pixels or record.get("max_pixels") or DEFAULT_MAX_PIXELS),
            analysis_long_side=int(record.get("analysis_long_side") or ANALYSIS_LONG_SIDE),
            batch_size=options.batch_size or DEFAULT_BATCH_SIZE,
        )
        return config, warnings


def _segmenter_record(record: Mapping[str, object]) -> dict[str, object]:
    """The model's segmenter entry, also from models written before settings were kept
    apart (``variant``, ``analysis_size``, ``min_score`` beside ``kind``)."""
    seg = dict(record.get("segmenter") or {})  # type: ignore[arg-type]
    if "kind" not in seg:
        raise RecipeError("the model does not record its segmenter")
    if "settings" not in seg:
        known = entry(str(seg["kind"])).defaults
        seg["settings"] = {k: seg[k] for k in known if seg.get(k) is not None}
    return seg


def _resolve_segmenter(config: SegmenterConfig) -> tuple[SegmenterConfig, str | None]:
    from photoqc.segmentation import resolve_segmenter
    from photoqc.weights import WeightsNotFoundError

    try:
        return resolve_segmenter(config)
    except WeightsNotFoundError as exc:
        hint = " (or use --segmenter fastcut, which needs no weights)"
        raise RecipeError(f"{exc}{hint}") from None


def _nima_file(path: str) -> NimaFile:
    from photoqc.models.nima import NimaWeightsError, check_usable, nima_name, sha256_of

    try:  # fail here, naming the file, rather than in every worker
        check_usable(path)
        return NimaFile(nima_name(path), path, sha256_of(path))
    except (NimaWeightsError, OSError) as exc:
        raise RecipeError(str(exc)) from None


def _nima_files(options: RecipeOptions) -> tuple[NimaFile, ...]:
    from photoqc.models.nima import candidate_files
    from photoqc.weights import weights_dir_from_env

    candidates = candidate_files(options.nima_weights, weights_dir_from_env(options.weights_dir))
    files = tuple(_nima_file(p) for p in candidates)
    names = [f.name for f in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RecipeError(
            f"several NIMA weight files describe the model {twice[0]!r}: "
            + ", ".join(f.path for f in files if f.name == twice[0])
        )
    return files


def _model_nima_files(
    record: Mapping[str, object], options: RecipeOptions, used_features: Sequence[str] | None
) -> tuple[NimaFile, ...]:
    """The NIMA files a model needs, found here by name and checked by sha256."""
    recorded = [dict(m) for m in record.get("nima") or []]  # type: ignore[union-attr]
    if used_features is not None:
        recorded = [
            m for m in recorded if any(f.startswith(f"nima_{m['name']}_") for f in used_features)
        ]
    if not recorded:
        return ()
    available = {f.sha256: f for f in _nima_files(replace(options, nima=True))}
    by_name = {f.name: f for f in available.values()}
    chosen = []
    for model in recorded:
        found = available.get(str(model.get("sha256")))
        if found is None:
            other = by_name.get(str(model["name"]))
            if other is not None:
                raise RecipeError(
                    f"{other.path}: not the NIMA {model['name']} weights the model was trained "
                    f"with ({model['file']}, sha256 {str(model.get('sha256'))[:12]}...)"
                )
            raise RecipeError(
                f"the model uses NIMA {model['name']} features (trained with {model['file']}); "
                "pass that file with --nima-weights or put it in --weights-dir"
            )
        chosen.append(replace(found, name=str(model["name"])))
    return tuple(chosen)
