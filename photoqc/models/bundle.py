"""A trained model as a folder: LightGBM's text model plus ``photoqc.json``.

``model.txt`` is LightGBM's own portable text format; ``photoqc.json`` carries everything
needed to use it (as torchvision's weights enums do): the feature names in order, how the
features were made (segmenter, NIMA models with their files' sha256, analysis scale), the
decision threshold and its history, the cross-validated metrics, the median of each
feature over good training photos (for the reasons), the photoqc version and the date.

Loading never unpickles and trusts nothing in the folder: sizes are checked before
reading, ``photoqc.json`` against a schema (:mod:`photoqc.models.bundle_schema`), the sha256
of the model file and of the whole folder (a hand-edited threshold shows), the model text
against what LightGBM's loader would trust (:mod:`photoqc.models.lightgbm_text`), and that
this photoqc computes every feature the model needs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from photoqc.errors import PhotoqcError

FORMAT = "photoqc-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.txt"
META_FILE = "photoqc.json"
MAX_META_BYTES = 8 << 20
"""Largest ``photoqc.json`` read (a few hundred features take well under 1 MiB)."""
MAX_MODEL_BYTES = 256 << 20
"""Largest ``model.txt`` read (photoqc's models are a few MiB)."""
TRAINING_IMAGES_FILE = "training_images.sha256"
"""The content hash of every photo the model was trained on, one per line (sorted), so that
tuning can tell when it is handed the model's own training photos."""
MAX_TRAINING_IMAGES_BYTES = 64 << 20
DEFAULT_MIN_SHORT_SIDE = 400
"""Photos whose short side has fewer pixels are too small to publish, whatever the
classifier says: 400 px is below what listing pages show a photo at, on a phone's width
(models written before this setting existed use it too)."""


def default_model_dir() -> Path:
    """The model that ships inside photoqc (trained on real phone photos with human
    scores; see ``scripts/train_default.sh``)."""
    from importlib import resources

    return Path(str(resources.files("photoqc") / "default_model"))


def model_dir_or_default(model: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """``model`` as a path, or the built-in default model; and whether it is the default."""
    if model is None:
        return default_model_dir(), True
    return Path(model), False


class BundleError(PhotoqcError):
    """A model folder is missing, tampered with, or does not fit this photoqc."""


def _json_safe(value):
    """Replace NaN/inf (not valid JSON) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.floating | np.integer):
        return _json_safe(value.item())
    return value


@dataclass
class ModelBundle:
    """A loaded (or about to be saved) model: the booster and its description."""

    booster: object  # lightgbm.Booster
    meta: dict
    path: Path | None = None
    readout: object | None = None  # photoqc.models.readout.EmbeddingReadout
    heads: object | None = None  # photoqc.models.heads.NetworkHeads

    @property
    def feature_names(self) -> list[str]:
        return list(self.meta["feature_names"])

    @property
    def threshold(self) -> float:
        return float(self.meta["threshold"])

    @property
    def recipe(self) -> dict:
        """How the model's features were made (see
        :meth:`photoqc.assess.recipe.ExtractConfig.record`)."""
        return dict(self.meta["feature_config"])

    @property
    def nima_models(self) -> tuple[str, ...]:
        """Names of the NIMA models the recipe ran."""
        return tuple(str(m["name"]) for m in self.recipe.get("nima", []))

    @property
    def min_short_side(self) -> int:
        """Smallest short side, pixels, a photo may have to be published."""
        value = self.meta.get("min_short_side")
        return DEFAULT_MIN_SHORT_SIDE if value is None else int(value)

    @property
    def mos_threshold(self) -> float | None:
        """The MOS at which a photo turned good in training (None: labels were not MOS)."""
        value = self.meta.get("training", {}).get("mos_threshold")
        return None if value is None else float(value)

    def training_images(self) -> frozenset[str]:
        """Content hashes (sha256) of the photos the model was trained on; empty for models
        that did not record them. The file was checked against the description on load."""
        if self.path is None or not self.meta.get("training_images_sha256"):
            return frozenset()
        text = (self.path / TRAINING_IMAGES_FILE).read_text(encoding="ascii")
        return frozenset(line for line in text.split() if line)

    @property
    def sha256(self) -> str:
        """SHA-256 of the model file: which model made a score."""
        return str(self.meta["model_sha256"])

    @property
    def specs(self) -> dict:
        """Spec (family, direction, reason phrase) of each feature this model may use (the
        learned impression too, when it has an embedding read-out)."""
        from photoqc.features import spec_index, table_groups
        from photoqc.features.nima import LEARNED_SPECS, READOUT_SPEC

        specs = spec_index(table_groups(self.nima_models))
        if self.readout is not None:
            specs[READOUT_SPEC.name] = READOUT_SPEC
        if self.heads is not None:
            specs.update({n: LEARNED_SPECS[n] for n in self.heads.feature_names})
        return specs

    @property
    def good_ranges(self) -> dict:
        """What good training photos have per feature (median, 10th and 90th percentile),
        as :class:`photoqc.models.explain.GoodRange`; models that kept only medians give
        point ranges."""
        from photoqc.models.explain import GoodRange

        def number(v) -> float:
            return math.nan if v is None else float(v)

        if "good_ranges" in self.meta:
            return {
                k: GoodRange(*(number(x) for x in v)) for k, v in self.meta["good_ranges"].items()
            }
        return {k: GoodRange.point(number(v)) for k, v in self.meta["good_medians"].items()}

    @cached_property
    def classifier(self):
        """The model as a fitted :class:`photoqc.models.boosted.BoostedModel` (its trees,
        base margin and defect penalty): all scoring goes through it."""
        from photoqc.models.boosted import BoostedModel
        from photoqc.models.margin import BaseMargin
        from photoqc.models.penalty import DefectPenalty

        penalty = DefectPenalty.from_record(self.meta.get("defect_penalty"))
        base = BaseMargin.from_record(self.meta.get("base_margin"))
        return BoostedModel.from_booster(self.booster, self.feature_names, penalty, base=base)

    def _scored(self, method, features: pd.DataFrame):
        try:
            return method(features)
        except KeyError as exc:  # a table without the model's columns
            raise BundleError(str(exc.args[0])) from None

    def raw_score(self, features: pd.DataFrame) -> np.ndarray:
        """Log-odds of "good" per row: the trees', plus the defect penalty."""
        return self._scored(self.classifier.raw_score, features)

    def predict_good(self, features: pd.DataFrame) -> np.ndarray:
        """Probability (0–1) that each photo is good."""
        return self._scored(self.classifier.predict_good, features)

    def contributions(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each feature's push (n, features) in log-odds and the expected value (n,); see
        :meth:`photoqc.models.boosted.BoostedModel.contributions`."""
        return self._scored(self.classifier.contributions, features)

    def set_threshold(self, threshold: float, rule: str) -> None:
        """Set the decision threshold (0–1, exclusive) and the rule that chose it, keeping
        the previous one in ``threshold_history``, and sign the folder's description again
        (``photoqc tune --write``)."""
        if not 0 < threshold < 1:
            raise BundleError(f"threshold must be strictly between 0 and 1, got {threshold}")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        history = [
            *self.meta.get("threshold_history", []),
            {
                "threshold": self.meta["threshold"],
                "rule": self.meta.get("threshold_rule", ""),
                "set": self.meta.get("threshold_set", self.meta.get("created")),
                "replaced": now,
            },
        ]
        self._rewrite(
            threshold=float(threshold),
            threshold_rule=rule,
            threshold_set=now,
            threshold_history=history,
        )

    def set_min_short_side(self, pixels: int) -> None:
        """Set the smallest short side (pixels, >= 0) a photo may have to be published, and
        sign the folder's description again."""
        if pixels < 0:
            raise BundleError(f"the minimum short side must be >= 0 pixels, got {pixels}")
        self._rewrite(min_short_side=int(pixels))

    def _rewrite(self, **changes: object) -> None:
        if self.path is None:
            raise BundleError("the model has no folder yet: save it first")
        self.meta.update(changes)
        write_meta(self.path, self.meta)

    def save(
        self, folder: str | os.PathLike[str], *, training_images: Sequence[str] | None = None
    ) -> Path:
        """Write ``model.txt`` and ``photoqc.json`` into ``folder`` (created if needed), and
        the content hashes of the ``training_images`` (sha256 hex; default: those of the
        folder this bundle was loaded from) beside them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        from photoqc.models.readout import READOUT_FEATURE, READOUT_FILE

        if self.readout is None and READOUT_FEATURE in self.feature_names:
            raise ValueError(f"the model uses {READOUT_FEATURE} but the bundle has no read-out")
        if self.readout is not None:
            data = self.readout.to_bytes()
            (folder / READOUT_FILE).write_bytes(data)
            self.meta["embedding_readout_sha256"] = hashlib.sha256(data).hexdigest()
        else:
            self.meta.pop("embedding_readout_sha256", None)
            (folder / READOUT_FILE).unlink(missing_ok=True)  # a retrained model's old one
        from photoqc.models.heads import HEADS_FILE

        if self.heads is not None:
            data = self.heads.to_bytes()
            (folder / HEADS_FILE).write_bytes(data)
            self.meta["heads_sha256"] = hashlib.sha256(data).hexdigest()
        else:
            self.meta.pop("heads_sha256", None)
            (folder / HEADS_FILE).unlink(missing_ok=True)
        hashes = self.training_images() if training_images is None else training_images
        if hashes:
            listing = "".join(f"{h}\n" for h in sorted(set(hashes))).encode("ascii")
            (folder / TRAINING_IMAGES_FILE).write_bytes(listing)
            self.meta["training_images_sha256"] = hashlib.sha256(listing).hexdigest()
        else:
            self.meta.pop("training_images_sha256", None)
        model_path = folder / MODEL_FILE
        self.booster.save_model(str(model_path))
        self.meta["model_file"] = MODEL_FILE
        self.meta["model_sha256"] = hashlib.sha256(model_path.read_bytes()).hexdigest()
        write_meta(folder, self.meta)
        self.path = folder
        return folder


def new_meta(
    *,
    feature_names: list[str],
    feature_config: dict,
    threshold: float,
    threshold_rule: str,
    cv_metrics: dict,
    good_ranges: dict[str, list[float]],
    training: dict,
    monotone_constraints: list[int] | None = None,
    defect_penalty: dict | None = None,
    min_short_side: int = DEFAULT_MIN_SHORT_SIDE,
    base_margin: dict | None = None,
) -> dict:
    """The description of a freshly trained model."""
    from photoqc._version import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "photoqc_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "feature_names": list(feature_names),
        "feature_config": feature_config,
        "threshold": float(threshold),
        "threshold_rule": threshold_rule,
        "threshold_history": [],
        "cv_metrics": cv_metrics,
        "good_ranges": good_ranges,
        "training": training,
        "monotone_constraints": monotone_constraints,
        "defect_penalty": defect_penalty,
        "base_margin": base_margin,
        "min_short_side": int(min_short_side),
    }


def signature(meta: dict, model_bytes: bytes) -> str:
    """SHA-256 over the model file and its whole description (but this field): a changed
    threshold or any other hand edit of ``photoqc.json`` shows, as a changed model does."""
    described = {k: v for k, v in meta.items() if k != "sha256"}
    canonical = json.dumps(
        _json_safe(described), sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(model_bytes + b"\n" + canonical.encode()).hexdigest()


def write_meta(folder: str | os.PathLike[str], meta: dict) -> None:
    """Sign ``meta`` with the folder's model file and write ``photoqc.json`` atomically (a
    crash never leaves half a file). ``photoqc tune --write`` signs its change this way."""
    folder = Path(folder)
    model_bytes = (folder / meta.get("model_file", MODEL_FILE)).read_bytes()
    meta["sha256"] = signature(meta, model_bytes)
    path = folder / META_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_json_safe(meta), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def _read_limited(path: Path, limit: int, what: str) -> bytes:
    """The bytes of ``path``, refused from its size (before reading) above ``limit``."""
    try:
        info = path.stat()
    except OSError:
        raise BundleError(f"{path}: {what} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise BundleError(f"{path}: {what} is not a regular file")
    if info.st_size > limit:
        raise BundleError(
            f"{path}: {what} is {info.st_size / 2**20:.1f} MiB, more than the "
            f"{limit / 2**20:.0f} MiB a photoqc model needs; refused"
        )
    return path.read_bytes()


def load_bundle(
    folder: str | os.PathLike[str],
    *,
    known_features: set[str] | None = None,
    expected_sha256: str | None = None,
) -> ModelBundle:
    """Load and check a model folder, trusting nothing in it.

    Its ``sha256`` (required) is an integrity checksum over the model file and the whole
    description: it catches accidents and any edit by someone who cannot also recompute
    it, not someone who can run photoqc's writer. To accept one model only, pin it:
    ``expected_sha256`` (``--model-sha256``) refuses every other folder.

    Parameters
    ----------
    folder : path
        The folder written by :meth:`ModelBundle.save`.
    expected_sha256 : str, optional
        The only ``sha256`` accepted (hex).
    known_features : set of str, optional
        Feature names this photoqc can compute; default: every classic feature plus NIMA
        features for the models the bundle names.

    Raises
    ------
    BundleError
        Missing or oversized files, invalid JSON, a description that breaks the schema
        (every problem listed), another format or a newer format version, a model file or
        description changed after training (sha256 mismatch), a model file LightGBM
        should not read (see :mod:`photoqc.models.lightgbm_text`), or features this
        photoqc does not compute.
    """
    from photoqc.compat import lightgbm
    from photoqc.models.bundle_schema import ModelDescription, ValidationError, problems
    from photoqc.models.lightgbm_text import ModelTextError, check_model_text

    lgb = lightgbm()

    folder = Path(folder)
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise BundleError(f"{folder}: not a photoqc model folder (no {META_FILE})")
    try:
        meta = json.loads(_read_limited(meta_path, MAX_META_BYTES, "the description"))
    except ValueError as exc:  # not JSON, not UTF-8, or a number past Python's 4,300 digits
        raise BundleError(
            f"{meta_path}: not valid JSON ({str(exc).splitlines()[0][:200]})"
        ) from None
    except RecursionError:
        raise BundleError(f"{meta_path}: nested too deeply to be a photoqc model") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{meta_path}: not a {FORMAT} description")
    version = meta.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise BundleError(
            f"{folder}: made by photoqc {str(meta.get('photoqc_version'))[:40]} in model "
            f"format {version}; this photoqc reads format {FORMAT_VERSION}: upgrade photoqc"
        )
    try:
        ModelDescription.model_validate(meta)
    except ValidationError as exc:
        listed = "\n  ".join(problems(exc))
        raise BundleError(f"{meta_path}: not a valid model description:\n  {listed}") from None
    if meta.get("good_ranges") is None and meta.get("good_medians") is None:
        raise BundleError(f"{meta_path}: incomplete description, missing good_ranges")
    model_path = folder / meta["model_file"]
    model_bytes = _read_limited(model_path, MAX_MODEL_BYTES, "the model file")
    if hashlib.sha256(model_bytes).hexdigest() != meta["model_sha256"]:
        raise BundleError(
            f"{model_path}: contents differ from what {META_FILE} records (sha256 mismatch): "
            "the model was changed after training; retrain or restore it"
        )
    if not isinstance(meta.get("sha256"), str):
        raise BundleError(
            f"{meta_path}: carries no sha256 (every folder photoqc writes has one): it was "
            "edited by hand; retrain or restore it"
        )
    if signature(meta, model_bytes) != meta["sha256"]:
        raise BundleError(
            f"{meta_path}: changed after training or tuning (sha256 mismatch): set the "
            "threshold with `photoqc tune --write`, not by hand; retrain or restore it"
        )
    if expected_sha256 is not None and meta["sha256"] != expected_sha256.strip().lower():
        raise BundleError(
            f"{folder}: its sha256 is {meta['sha256']}, not the pinned {expected_sha256} "
            "(--model-sha256): refusing another model"
        )
    readout = _load_readout(folder, meta)
    heads = _load_heads(folder, meta)
    listed = meta.get("training_images_sha256")
    if listed is not None:
        listing = _read_limited(
            folder / TRAINING_IMAGES_FILE, MAX_TRAINING_IMAGES_BYTES, "the training images' hashes"
        )
        if hashlib.sha256(listing).hexdigest() != listed:
            raise BundleError(
                f"{folder / TRAINING_IMAGES_FILE}: differs from what {META_FILE} records "
                "(sha256 mismatch); retrain or restore it"
            )
    try:
        check_model_text(model_bytes.decode("ascii", "replace"), meta["feature_names"])
    except ModelTextError as exc:
        raise BundleError(f"{model_path}: not a model photoqc can use ({exc})") from None
    try:
        booster = lgb.Booster(model_str=model_bytes.decode("ascii"))
    except lgb.basic.LightGBMError as exc:
        raise BundleError(f"{model_path}: not a LightGBM model ({exc})") from None
    if known_features is None:
        from photoqc.features import feature_names, table_groups
        from photoqc.features.nima import READOUT_FEATURE

        nima_models = tuple(m["name"] for m in meta["feature_config"].get("nima", []))
        known_features = set(feature_names(table_groups(nima_models)))
        if readout is not None:
            known_features.add(READOUT_FEATURE)
        if heads is not None:
            known_features.update(heads.feature_names)
    penalised = (meta.get("defect_penalty") or {}).get("features", [])
    if not set(penalised) <= set(meta["feature_names"]):
        raise BundleError(f"{meta_path}: defect_penalty names features the model does not use")
    margined = (meta.get("base_margin") or {}).get("features", [])
    if not set(margined) <= set(meta["feature_names"]):
        raise BundleError(f"{meta_path}: base_margin names features the model does not use")
    unknown = [n for n in meta["feature_names"] if n not in known_features]
    if unknown:
        raise BundleError(
            f"{folder}: feature schema mismatch: the model (photoqc {meta.get('photoqc_version')}) "
            f"needs features this photoqc does not compute: {', '.join(unknown[:6])}"
        )
    return ModelBundle(booster=booster, meta=meta, path=folder, readout=readout, heads=heads)


MAX_READOUT_BYTES = 16 << 20


def _read_signed(path: Path, recorded: str, limit: int, what: str) -> bytes:
    """The bytes of a file the description signs (at most ``limit``), refused unless their
    sha256 is the ``recorded`` one."""
    data = _read_limited(path, limit, what)
    if hashlib.sha256(data).hexdigest() != recorded:
        raise BundleError(
            f"{path}: differs from what {META_FILE} records (sha256 mismatch); retrain or "
            "restore it"
        )
    return data


def _load_readout(folder: Path, meta: dict):
    """The folder's embedding read-out, checked against the description (sha256) and
    parsed as data; None when the model has none."""
    from photoqc.models.readout import READOUT_FILE, EmbeddingReadout, ReadoutError

    recorded = meta.get("embedding_readout_sha256")
    if recorded is None:
        return None
    data = _read_signed(
        folder / READOUT_FILE, recorded, MAX_READOUT_BYTES, "the embedding read-out"
    )
    try:
        return EmbeddingReadout.from_bytes(data)
    except ReadoutError as exc:
        raise BundleError(f"{folder / READOUT_FILE}: {exc}") from None


MAX_HEADS_BYTES = 64 << 20


def _load_heads(folder: Path, meta: dict):
    """The folder's network heads, checked against the description (sha256) and read as
    arrays; None when the model has none."""
    from photoqc.models.heads import HEADS_FILE, HeadsError, NetworkHeads

    recorded = meta.get("heads_sha256")
    if recorded is None:
        return None
    data = _read_signed(folder / HEADS_FILE, recorded, MAX_HEADS_BYTES, "the network heads")
    try:
        return NetworkHeads.from_bytes(data)
    except HeadsError as exc:
        raise BundleError(f"{folder / HEADS_FILE}: {exc}") from None
