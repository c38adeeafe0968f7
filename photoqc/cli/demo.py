"""``photoqc demo``: a complete offline run on scikit-image's photos."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

from rich.text import Text

from photoqc import terminal
from photoqc.cli.options import NoNima, SegmenterChoice, option

DemoOut = Annotated[Path, option("--out", "-o", file_okay=False, help="Folder for everything.")]
DemoWorkers = Annotated[int, option("--workers", "-w", min=1, help="Processes in parallel.")]
DemoSegmenter = Annotated[
    SegmenterChoice,
    option("--segmenter", "-s", help="`fastcut` needs no weights; `none` is fastest."),
]
DemoCrops = Annotated[
    int, option("--crops", min=1, help="Crops per source photo (more: bigger set).")
]


def demo(
    out: DemoOut = Path("photoqc-demo"),
    workers: DemoWorkers = 2,
    segmenter: DemoSegmenter = SegmenterChoice.fastcut,
    crops: DemoCrops = 2,
    no_nima: NoNima = False,
) -> None:
    """A complete offline run: make a labelled set from scikit-image's photos, train, score.

    Clean photos and mild defects are labelled good, severe ones bad (under/over-exposure,
    blown highlights, low contrast, dark corner, defocus and motion blur, sensor noise,
    heavy JPEG, object cut off). Two whole source photos are held out for testing.
    """
    from photoqc.pipelines.demo import DemoConfig, run_demo

    config = DemoConfig(segmenter=segmenter.value, crops_per_photo=crops, nima=not no_nima)
    started = time.perf_counter()
    with terminal.progress() as progress:
        task = progress.add_task("demo", total=None)

        def on_stage(message: str) -> None:
            progress.console.print(Text(message, style="bold"), highlight=False)
            progress.update(task, description=message.split(" (")[0], completed=0, total=None)

        result = run_demo(
            out,
            config,
            workers=workers,
            on_stage=on_stage,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    terminal.demo_summary(result, out, time.perf_counter() - started)


COMMANDS = {"demo": demo}
