"""The settings of a NIMA training run, apart from the training code (which needs torch),
so that the command line can show their defaults without loading it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class NimaTrainConfig:
    """Settings of a training run (stored with its checkpoint and results)."""

    backbone: str = "mobilenet_v1"
    name: str = "custom"
    init: str | None = None
    epochs_head: int = 5
    epochs_all: int = 5
    lr_head: float = 1e-3
    lr_all: float = 3e-5
    batch_size: int = 16
    val_fraction: float = 0.2
    seed: int = 0
    dropout: float = 0.75
    max_steps_per_epoch: int | None = None
    weights_dir: str | None = None
    allow_download: bool = True

    @classmethod
    def of(cls, values: Mapping[str, object]) -> NimaTrainConfig:
        """The settings among ``values`` (others ignored; missing ones keep the default)."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

    def key(self) -> dict[str, object]:
        """The settings that must match for a checkpoint to be resumed."""
        drop = {"weights_dir", "allow_download"}
        return {k: v for k, v in asdict(self).items() if k not in drop}
