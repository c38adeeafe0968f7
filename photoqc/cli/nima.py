"""``photoqc nima import`` and ``photoqc nima train``: NIMA weights from idealo's files,
or trained on your ratings."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from photoqc.cli.options import Offline, WeightsDir, existing_file, option, out
from photoqc.models.nima.spec import BACKBONE_NAMES
from photoqc.pipelines.training.nima_config import NimaTrainConfig
from photoqc.terminal import say

NimaBackboneChoice = StrEnum("NimaBackboneChoice", [(b, b) for b in BACKBONE_NAMES])

NimaFile = Annotated[
    Path,
    existing_file(
        "idealo's NIMA MobileNet weights: Keras `.hdf5`/`.h5` or TensorFlow Lite `.tflite`."
    ),
]
NimaOut = Annotated[Path, out("Output `.safetensors`; a `.json` description is written beside it.")]
NimaName = Annotated[
    str | None,
    option(
        "--name",
        help="Model name for the feature columns (`nima_NAME_mean`). Default: what the file "
        "is known to be (`technical`, `aesthetic`), else what its file name says.",
    ),
]
TrainedOn = Annotated[
    str | None,
    option(
        "--trained-on",
        help="What the weights were trained on (recorded in the JSON); known for idealo's files.",
    ),
]
Half = Annotated[
    bool, option("--half", help="Store the weights as float16: half the size, same scores.")
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
    option(
        "--init",
        exists=True,
        dir_okay=False,
        help="Weights to fine-tune (e.g. imported idealo weights). Default: "
        "ImageNet weights for torchvision backbones, else from scratch with a warning.",
    ),
]
Backbone = Annotated[
    NimaBackboneChoice, option("--backbone", help="The network under NIMA's head.")
]
TrainedName = Annotated[
    str, option("--name", help="Model name (feature columns `nima_NAME_mean`, `nima_NAME_std`).")
]
MosRange = Annotated[
    tuple[float, float],
    option("--mos-range", help="Scale of `mos` (and `std`), mapped onto 1..10, e.g. `0 100`."),
]
EpochsHead = Annotated[int, option("--epochs-head", min=0, help="Epochs training the head alone.")]
EpochsAll = Annotated[int, option("--epochs-all", min=0, help="Epochs training all layers.")]
LrHead = Annotated[float, option("--lr-head", help="Learning rate of the head stage.")]
LrAll = Annotated[float, option("--lr-all", help="Learning rate of the all-layers stage.")]
StepBatch = Annotated[int, option("--batch-size", min=1, help="Images per training step.")]
ValFraction = Annotated[
    float,
    option("--val-fraction", min=0.0, max=0.9, help="Share of images held out for validation."),
]
NimaSeed = Annotated[int, option("--seed", help="Seed of the split, order, crops and flips.")]
MaxSteps = Annotated[int | None, option("--max-steps", min=1, help="Cap on steps per epoch.")]
Restart = Annotated[bool, option("--restart", help="Ignore an existing checkpoint in --out.")]

app = typer.Typer(
    help="NIMA (Neural Image Assessment): import idealo's weights, train your own.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("import")
def nima_import(
    file: NimaFile,
    out: NimaOut,
    name: NimaName = None,
    trained_on: TrainedOn = None,
    half: Half = False,
) -> None:
    """Convert idealo's NIMA weights to photoqc's PyTorch format (safetensors + JSON).

    TFLite kernels are dequantised (int8 x per-channel scale) and their folded batch norm
    kept as a bias; Keras kernels are transposed. The result runs in `photoqc features
    --nima-weights`.
    """
    from photoqc.pipelines.training.nima_import import import_nima

    meta = import_nima(file, out, name=name, trained_on=trained_on, half=half)
    say(
        f"wrote {out} and {out.with_suffix('.json').name}: NIMA {meta['name']} "
        f"({meta['backbone']}, trained on {meta['trained_on']}); its features are "
        f"nima_{meta['name']}_mean and nima_{meta['name']}_std"
    )


@app.command("train")
def nima_train(
    ratings: Ratings,
    out: NimaTrainOut,
    init: Init = None,
    backbone: Backbone = NimaBackboneChoice(NimaTrainConfig.backbone),
    name: TrainedName = NimaTrainConfig.name,
    mos_range: MosRange = (1.0, 10.0),
    epochs_head: EpochsHead = NimaTrainConfig.epochs_head,
    epochs_all: EpochsAll = NimaTrainConfig.epochs_all,
    lr_head: LrHead = NimaTrainConfig.lr_head,
    lr_all: LrAll = NimaTrainConfig.lr_all,
    batch_size: StepBatch = NimaTrainConfig.batch_size,
    val_fraction: ValFraction = NimaTrainConfig.val_fraction,
    seed: NimaSeed = NimaTrainConfig.seed,
    max_steps: MaxSteps = None,
    restart: Restart = False,
    weights_dir: WeightsDir = None,
    offline: Offline = False,
) -> None:
    """Train or fine-tune NIMA with the EMD loss, in two stages (head, then all layers).

    Score distributions come from the votes, or from `mos`/`std` as a discretised normal
    on the 1..10 scale. A checkpoint is written every epoch; running the same command
    again resumes. At the end LCC, SRCC and EMD on the validation split are printed and
    stored in the weights' JSON and `metrics.json`.
    """
    from photoqc import terminal
    from photoqc.compat import require

    require("torch", "photoqc nima train")
    from photoqc.pipelines.training.nima_train import read_ratings, train_nima

    data = read_ratings(ratings, mos_range=mos_range)
    # The options are named as the config's fields; these few need converting.
    config = NimaTrainConfig.of(
        {
            **locals(),
            "backbone": backbone.value,
            "init": str(init) if init else None,
            "max_steps_per_epoch": max_steps,
            "weights_dir": str(weights_dir) if weights_dir else None,
            "allow_download": not offline,
        }
    )
    with terminal.nima_training() as (on_step, on_epoch):
        result = train_nima(data, out, config, restart=restart, on_step=on_step, on_epoch=on_epoch)
    m = result.metrics
    say(
        f"validation ({int(m['n'])} images): EMD {m['emd']:.4f}, LCC {m['lcc']:.3f}, "
        f"SRCC {m['srcc']:.3f}; wrote {result.weights}"
    )
