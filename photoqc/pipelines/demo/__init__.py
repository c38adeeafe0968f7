"""The offline demo (``photoqc demo``): a labelled set made from scikit-image's photos,
trained on and scored, with no network (:mod:`~photoqc.pipelines.demo.run`); the source
photos and their framings (:mod:`~photoqc.pipelines.demo.photos`)."""

from photoqc.pipelines.demo.photos import framings, source_photo
from photoqc.pipelines.demo.run import DEMO_PHOTOS, DemoConfig, DemoResult, make_dataset, run_demo

__all__ = [
    "DEMO_PHOTOS",
    "DemoConfig",
    "DemoResult",
    "framings",
    "make_dataset",
    "run_demo",
    "source_photo",
]
