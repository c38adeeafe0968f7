"""Train or fine-tune a NIMA network on a user's ratings (``photoqc nima train``).

Two stages, as idealo trained its NIMA models: first the new head alone at a higher
learning rate (the backbone frozen), then every layer at a low one. The loss is the EMD
between predicted and rated score distributions (r = 2). Training images are resized
whole to 256x256 once, then randomly cropped to 224x224 and flipped each time they are
seen; validation images are resized whole to 224x224, as at scoring time.

A checkpoint is written after every epoch (``checkpoint.pt``: tensors and plain numbers
only, read back with ``weights_only=True``). Starting again with the same output folder
and settings resumes after the last finished epoch. Each epoch's randomness (order, crops,
flips, dropout) is seeded from the seed and the epoch number, so an interrupted and resumed
run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import pearsonr, spearmanr

from photoqc.errors import PhotoqcError
from photoqc.hashing import sha256_of
from photoqc.images import ImageLoadError, load_image
from photoqc.models.nima.network import NIMA, backbone_spec, emd, random_crops
from photoqc.models.nima.spec import (
    NUM_BUCKETS,
    distribution_mean_std,
    mos_to_distribution,
    votes_to_distribution,
)
from photoqc.models.nima.weights import load_nima, save_nima
from photoqc.pipelines.training.labels import problem_report
from photoqc.pipelines.training.nima_config import NimaTrainConfig
from photoqc.weights import WeightsNotFoundError, resolve_weights_file

logger = logging.getLogger(__name__)

VOTE_COLUMNS = tuple(f"votes_{k}" for k in range(1, NUM_BUCKETS + 1))
CHECKPOINT = "checkpoint.pt"
LOAD_SIZE = 256


class RatingsError(PhotoqcError):
    """The ratings CSV cannot be used; the message lists every bad row with its line."""


class CheckpointError(PhotoqcError):
    """The output folder holds a training run of other settings."""


@dataclass(frozen=True)
class Ratings:
    """Images and their target score distributions."""

    paths: list[Path]
    targets: np.ndarray  # (N, 10), rows sum to 1
    kind: str  # "votes" or "mos"


def read_ratings(
    csv_path: str | os.PathLike[str],
    *,
    mos_range: tuple[float, float] = (1.0, 10.0),
) -> Ratings:
    """Read a ratings CSV: ``image`` plus ``votes_1``..``votes_10`` or ``mos`` (+ ``std``).

    Paths are relative to the CSV's folder. Every problem (missing column, missing file,
    non-numeric or negative value, no votes) is collected and reported at once, with the
    CSV line number, before any image is read.
    """
    csv_path = Path(csv_path)
    try:
        table = pd.read_csv(csv_path, dtype={"image": str}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
        raise RatingsError(f"{csv_path}: not a readable CSV ({exc})") from None
    if "image" not in table.columns:
        raise RatingsError(f"{csv_path}: no 'image' column")
    has_votes = all(c in table.columns for c in VOTE_COLUMNS)
    if not has_votes and "mos" not in table.columns:
        raise RatingsError(
            f"{csv_path}: needs either votes_1..votes_10 or a 'mos' column (optionally 'std')"
        )
    value_columns = list(VOTE_COLUMNS) if has_votes else ["mos"]
    values = table[value_columns].apply(pd.to_numeric, errors="coerce")
    problems: list[str] = []
    paths: list[Path] = []
    for i, (image, row) in enumerate(
        zip(table["image"], values.itertuples(index=False), strict=True)
    ):
        line = i + 2  # header is line 1
        if not isinstance(image, str) or not image.strip():
            problems.append(f"line {line}: empty image path")
            paths.append(Path())
            continue
        path = Path(image.strip())
        path = path if path.is_absolute() else csv_path.parent / path
        paths.append(path)
        if not path.is_file():
            problems.append(f"line {line}: file not found: {path}")
        numbers = np.asarray(row, dtype=np.float64)
        if not np.isfinite(numbers).all():
            problems.append(f"line {line}: missing or non-numeric {', '.join(value_columns)}")
        elif has_votes and ((numbers < 0).any() or numbers.sum() <= 0):
            problems.append(f"line {line}: votes must be >= 0 with at least one vote")
        elif not has_votes and not (min(mos_range) <= numbers[0] <= max(mos_range)):
            problems.append(f"line {line}: mos {numbers[0]:g} outside --mos-range {mos_range}")
    if not len(table):
        problems.append("no rows")
    if problems:
        raise RatingsError(problem_report(csv_path, problems))
    if has_votes:
        return Ratings(paths, votes_to_distribution(values.to_numpy()), "votes")
    std = (
        pd.to_numeric(table["std"], errors="coerce").to_numpy() if "std" in table.columns else None
    )
    return Ratings(paths, mos_to_distribution(values["mos"].to_numpy(), std, mos_range), "mos")


@dataclass
class TrainResult:
    """What a finished run produced."""

    weights: Path
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0


StepCallback = Callable[[str, int, int, int, float], None]
"""(stage, epoch, step, steps in epoch, loss) after each training step."""
EpochCallback = Callable[[int, dict[str, float]], None]
"""(epoch number from 1, metrics) after each checkpoint."""


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train, validation) index arrays; at least one image in each when n >= 2."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, round(n * val_fraction)), n - 1) if n >= 2 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def preload(
    paths: list[Path], resize: Callable[[np.ndarray, int], np.ndarray], size: int
) -> np.ndarray:
    """Decode every image once and resize it whole to ``size`` x ``size``: (N, size, size, 3)."""
    out = np.empty((len(paths), size, size, 3), np.uint8)
    failures = []
    for i, path in enumerate(paths):
        try:
            out[i] = resize(load_image(path).pixels, size)
        except ImageLoadError as exc:
            failures.append(str(exc))
    if failures:
        raise RatingsError("unreadable images:\n  " + "\n  ".join(failures))
    return out


def evaluate(
    model: NIMA, images: np.ndarray, targets: np.ndarray, batch_size: int = 32
) -> dict[str, float]:
    """EMD, LCC and SRCC of ``model`` on preprocessed-size images (N, 224, 224, 3)."""
    model.eval()
    preds = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = model.preprocessing.to_tensor(images[start : start + batch_size])
            preds.append(model(x))
    pred = torch.cat(preds) if preds else torch.zeros((0, NUM_BUCKETS))
    target = torch.as_tensor(targets, dtype=torch.float32)
    pred_mean, _ = distribution_mean_std(pred.numpy())
    true_mean, _ = distribution_mean_std(targets)
    enough = len(pred_mean) >= 3 and np.std(pred_mean) > 0 and np.std(true_mean) > 0
    return {
        "emd": float(emd(pred, target)) if len(pred) else math.nan,
        "lcc": float(pearsonr(pred_mean, true_mean)[0]) if enough else math.nan,
        "srcc": float(spearmanr(pred_mean, true_mean)[0]) if enough else math.nan,
        "n": float(len(pred)),
    }


def initial_model(config: NimaTrainConfig) -> tuple[NIMA, str]:
    """The network to start from and a sentence saying what it is."""
    if config.init:
        model, meta = load_nima(config.init, expected_backbone=config.backbone)
        torch.manual_seed(config.seed)
        trained = NIMA(config.backbone, dropout=config.dropout)
        trained.load_state_dict(model.state_dict())
        return trained, f"fine-tuning {config.init} ({meta.get('trained_on', 'unknown data')})"
    torch.manual_seed(config.seed)  # the new head (and a from-scratch backbone) repeatably
    model = NIMA(config.backbone, dropout=config.dropout)
    spec = backbone_spec(config.backbone)
    if spec.imagenet_weights and spec.imagenet_state:
        import torchvision.models as tvm

        enum_name, member = spec.imagenet_weights.split(".")
        weights = getattr(getattr(tvm, enum_name), member)
        try:
            path = resolve_weights_file(
                weights.url.rsplit("/", 1)[-1],
                weights.url,
                what=f"{config.backbone} ImageNet",
                weights_dir=config.weights_dir,
                allow_download=config.allow_download,
            )
        except WeightsNotFoundError as exc:
            logger.warning("training from scratch: %s", exc)
            return model, "from scratch (ImageNet weights unavailable)"
        model.backbone.load_state_dict(spec.imagenet_state(str(path)))
        return model, f"ImageNet {config.backbone} backbone ({path.name})"
    logger.warning(
        "training %s from scratch: no ImageNet weights exist for this backbone here; "
        "pass --init with imported idealo weights to fine-tune instead",
        config.backbone,
    )
    return model, "from scratch"


def _set_stage(model: NIMA, stage: str, train_bn: bool) -> list[torch.nn.Parameter]:
    head_only = stage == "head"
    for p in model.backbone.parameters():
        p.requires_grad_(not head_only)
    model.train()
    if head_only or not train_bn:
        # Batch-norm statistics stay as they came: a few hundred photos in small batches
        # would spoil statistics learned on a large data set.
        for m in model.backbone.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    return list(model.head.parameters()) if head_only else list(model.parameters())


def _batches(
    train_images: np.ndarray, targets: np.ndarray, config: NimaTrainConfig, epoch: int, crop: int
):
    """Shuffled, randomly cropped and flipped batches for one epoch, seeded by the epoch."""
    g = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = torch.randperm(len(train_images), generator=g).numpy()
    steps = math.ceil(len(order) / config.batch_size)
    if config.max_steps_per_epoch:
        steps = min(steps, config.max_steps_per_epoch)
    for step in range(steps):
        idx = order[step * config.batch_size : (step + 1) * config.batch_size]
        yield step, steps, random_crops(train_images[idx], crop, g), targets[idx]


def train_nima(
    ratings: Ratings,
    out_dir: str | os.PathLike[str],
    config: NimaTrainConfig,
    *,
    restart: bool = False,
    on_step: StepCallback | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train (or resume training) and write ``nima_<name>.safetensors`` + JSON to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / CHECKPOINT
    model, origin = initial_model(config)
    pre = model.preprocessing
    train_idx, val_idx = split_indices(len(ratings.paths), config.val_fraction, config.seed)
    train_images = preload([ratings.paths[i] for i in train_idx], pre.resize, LOAD_SIZE)
    val_images = preload([ratings.paths[i] for i in val_idx], pre.resize, pre.size)
    train_targets = torch.as_tensor(ratings.targets[train_idx], dtype=torch.float32)
    val_targets = ratings.targets[val_idx]
    train_bn = origin.startswith("from scratch")

    start_epoch, history = 0, []
    optimizer_state = None
    if checkpoint_path.is_file() and not restart:
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if json.loads(state["config"]) != config.key():
            raise CheckpointError(
                f"{out_dir} holds a run with other settings; use another --out or --restart"
            )
        model.load_state_dict(state["model"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
        optimizer_state = state["optimizer"], state["stage"]
        logger.info("resuming after epoch %d of %s", start_epoch, out_dir)
    baseline = history[0] if history else {"epoch": 0.0, **evaluate(model, val_images, val_targets)}
    if not history:
        history.append(baseline)

    total_epochs = config.epochs_head + config.epochs_all
    optimizer, current_stage = None, None
    for epoch in range(start_epoch, total_epochs):
        stage = "head" if epoch < config.epochs_head else "all"
        if stage != current_stage:
            params = _set_stage(model, stage, train_bn)
            lr = config.lr_head if stage == "head" else config.lr_all
            optimizer = torch.optim.Adam(params, lr=lr)
            if optimizer_state and optimizer_state[1] == stage:
                optimizer.load_state_dict(optimizer_state[0])
            optimizer_state, current_stage = None, stage
        else:
            _set_stage(model, stage, train_bn)
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout
        losses = []
        for step, steps, batch, target in _batches(
            train_images, train_targets, config, epoch, pre.size
        ):
            loss = emd(model(pre.to_tensor(batch)), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if on_step:
                on_step(stage, epoch + 1, step + 1, steps, losses[-1])
        metrics = {
            "epoch": float(epoch + 1),
            "train_emd": float(np.mean(losses)),
            **evaluate(model, val_images, val_targets),
        }
        history.append(metrics)
        _save_checkpoint(checkpoint_path, model, optimizer, stage, epoch + 1, history, config)
        if on_epoch:
            on_epoch(epoch + 1, metrics)

    final = evaluate(model, val_images, val_targets)
    weights = out_dir / f"nima_{config.name}.safetensors"
    init_source = {"file": config.init, "sha256": sha256_of(config.init)} if config.init else {}
    save_nima(
        model,
        weights,
        name=config.name,
        source={"started_from": origin, **init_source},
        trained_on=(
            f"{len(ratings.paths)} rated images ({ratings.kind}), "
            f"{len(train_idx)} train / {len(val_idx)} validation"
        ),
        extra={
            "training": config.key(),
            "validation": final,
            "validation_before": baseline,
            "history": history,
        },
    )
    (out_dir / "metrics.json").write_text(
        json.dumps({"validation": final, "before": baseline, "history": history}, indent=2)
    )
    return TrainResult(weights, final, history, start_epoch)


def _save_checkpoint(path: Path, model, optimizer, stage: str, epoch: int, history, config) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "stage": stage,
        "epoch": epoch,
        "history": history,
        "config": json.dumps(config.key()),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind
