"""How ``photoqc train`` fits and evaluates: :class:`TrainConfig` (light to import: the
command line reads its defaults without loading the training code)."""

from __future__ import annotations

from dataclasses import dataclass, field

from photoqc.models.boosting import MAX_ROUNDS, PATIENCE
from photoqc.models.bundle import DEFAULT_MIN_SHORT_SIDE
from photoqc.pipelines.training.augment import AugmentConfig


@dataclass(frozen=True)
class TrainConfig:
    """How to fit and evaluate the classifier.

    ``monotone``: constrain each feature's effect to its direction (see
    :class:`photoqc.features.Direction`): more blur, noise, clipping or blocking never makes
    a photo better. ``heads``: with NIMA, learn people's impression and the visible defect
    from every layer of its networks (:mod:`photoqc.models.heads`), as features that the
    verdict starts from (a base margin the trees correct). ``readout``: with NIMA, learn
    people's overall impression from its last layer alone, as one more feature
    (:mod:`photoqc.models.readout`; the recipe before the heads).
    ``min_short_side``: photos with a shorter short side (pixels) are bad
    whatever the classifier says. ``augment``: degraded copies of good photos to learn
    defects from,
    as penalties on defect features beyond the ``penalty_from`` quantile of the good
    photos (1.0: the worst good photo; see :mod:`photoqc.models.penalty`).
    """

    folds: int = 5
    seed: int = 0
    n_estimators: int = MAX_ROUNDS
    early_stopping_rounds: int = PATIENCE
    inner_folds: int = 4
    monotone: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    penalty_from: float = 1.0
    min_short_side: int = DEFAULT_MIN_SHORT_SIDE
    readout: bool = False
    heads: bool = True
    heads_basis: int = 2048
    """Most principal directions of the networks' stats the heads are fitted on
    (:data:`photoqc.models.ridge.BASIS_SIZE`; fewer rows than this: every direction)."""
    corrections: bool | str = "auto"
    """With a base margin (network heads), whether trees over the features correct it:
    ``True``, ``False`` (the margin and the defect penalty alone), or ``"auto"``: the one
    whose cross-validated ROC-AUC is higher (on clive-dev the trees lowered it, 0.910 ->
    0.872: they learnt the training folds' noise)."""
