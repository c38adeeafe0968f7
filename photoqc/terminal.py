"""What the command line shows on the terminal: one-line messages, progress bars, summaries.

Everything goes to stderr (tables of results to stdout, from the CLI itself) and nothing is
read as rich markup, since file names may hold brackets. Only :mod:`photoqc.cli` uses this.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

console = Console(stderr=True)


def say(message: str, style: str = "") -> None:
    """A line on stderr, never read as rich markup."""
    console.print(Text(message, style=style), highlight=False, soft_wrap=True)


def warn(warnings: list[str]) -> None:
    """Each warning on a line of its own."""
    for warning in warnings:
        console.print(Text.assemble(("warning: ", "bold yellow"), warning), soft_wrap=True)


def loud(warnings: list[str]) -> None:
    """Warnings that change what a result means, each in bold red on a line of its own."""
    for warning in warnings:
        console.print(Text.assemble(("WARNING: ", "bold red"), (warning, "bold")), soft_wrap=True)


def error(message: str, hint: str | None = None) -> None:
    """``error: message`` (and ``hint: ...`` under it)."""
    console.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)
    if hint:
        say(f"hint: {hint}", "dim")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "img")
        return Text("" if speed is None else f"{speed:.2f} {unit}/s", style="cyan")


class Bars(Progress):
    """Progress bars with count, images per second, elapsed time and ETA."""

    def counter(self, description: str, total: int | None) -> Callable[[int], None]:
        """A new bar, and the function that moves it on by ``n`` images."""
        task = self.add_task(description, total=total)
        return lambda n: self.advance(task, n)


def progress() -> Bars:
    """A progress bar with count, rate, elapsed time and ETA."""
    return Bars(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def run_summary(summary, out: Path, seconds: float) -> None:
    """``wrote N rows to OUT (k ok, e errors) in s``, then the first errors by name."""
    resumed = f"; {summary.already_done} from the interrupted run" if summary.already_done else ""
    say(
        f"wrote {summary.rows} rows to {out} ({summary.rows - summary.errors} ok, "
        f"{summary.errors} error{'s' if summary.errors != 1 else ''}{resumed}) in {seconds:.1f} s"
    )
    errors_said(summary)


def score_summary(summary, out: Path, seconds: float) -> None:
    """``OUT: n scored now (g good, b bad, e errors), k already there``, then the first
    errors by name."""
    say(
        f"{out}: {summary.processed} scored now ({summary.good} good, {summary.bad} bad, "
        f"{summary.errors} errors), {summary.already_done} already there from an earlier run, "
        f"in {seconds:.1f} s"
    )
    errors_said(summary)


def rank_summary(summary, out: Path, group_by: str) -> None:
    """Listings ranked, those without a publishable photo (the first few named), and
    duplicates found."""
    none = summary.unpublishable
    say(
        f"{out}: {summary.groups} listings ({group_by}) ranked, {summary.photos} photos; "
        f"{len(none)} with no publishable photo; {summary.duplicates} near-duplicates flagged"
        + (f"; {summary.errors} photos could not be judged" if summary.errors else "")
    )
    if getattr(summary, "plain", 0):
        say(
            f"  {summary.plain} photos too plain to compare for near-duplicates (a flat "
            "colour or a blank frame): never flagged as one"
        )
    if none:
        named = ", ".join(none[:10]) + (f" ... and {len(none) - 10} more" if len(none) > 10 else "")
        say(f"  no publishable photo (ask the seller for new ones): {named}", "yellow")


def errors_said(summary) -> None:
    for image, message in summary.first_errors:
        say(f"  error {image}: {message}", "red")
    if summary.errors > len(summary.first_errors):
        say(f"  ... and {summary.errors - len(summary.first_errors)} more (see the `error` column)")


def feature_list(groups, *, markdown: bool) -> None:
    """Every feature of ``groups`` with group, family, direction and description, on
    stdout: a rich table, or Markdown."""
    rows = [
        (spec.name, group.name, spec.family, str(spec.direction), spec.description)
        for group in groups
        for spec in group.specs
    ]
    if markdown:
        print("| feature | group | family | better | description |\n|---|---|---|---|---|")
        for name, *rest in rows:
            print(f"| `{name}` | " + " | ".join(rest) + " |")
        return
    table = Table("feature", "group", "family", "better", "description", title="photoqc features")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def check_answer(record: dict) -> None:
    """One photo's answer (:func:`photoqc.assess.answer.check_record`) on stdout: the verdict
    line, then its reasons numbered."""
    stdout = Console(highlight=False)
    if "error" in record:
        stdout.print(
            Text.assemble(
                f"{record['image']}: ", ("error", "bold red"), f" {record['error']['message']}"
            )
        )
        return
    verdict = str(record["verdict"])
    stdout.print(
        Text.assemble(
            f"{record['image']}: ",
            (verdict, f"bold {'green' if verdict == 'good' else 'red'}"),
            f"  p_good {record['p_good']:.3f}  (threshold {record['threshold']:.3f})",
        )
    )
    for i, reason in enumerate(record["reasons"], start=1):
        stdout.print(Text(f"  {i}. {reason['text']}"))


def explanation(result) -> None:
    """One photo's verdict, its reasons and its strongest feature pushes, on stdout."""
    stdout = Console()
    print(result.image)
    stdout.print(
        Text.assemble(
            "verdict: ",
            (result.verdict, f"bold {'green' if result.verdict == 'good' else 'red'}"),
            f"  p_good {result.p_good:.3f}  (threshold {result.threshold:.3f}, "
            f"segmenter {result.segmenter})",
        ),
        highlight=False,
    )
    if result.verdict == "good":
        print("no defect stands out")
    elif not result.reasons:
        print("why not good: no single feature stands out (see the table)")
    else:
        print("why not good:")
        for i, reason in enumerate(result.reasons, start=1):
            print(f"  {i}. {reason.text}")
    table = Table("family", "feature", "value", "good photos", "push", title="strongest pushes")
    for push in result.pushes[:8]:
        table.add_row(
            push.spec.family,
            push.spec.label,
            push.spec.format(push.value),
            push.spec.format(push.typical) if math.isfinite(push.typical) else "",
            f"towards {'good' if push.contribution >= 0 else 'bad'} ({abs(push.contribution):.2f})",
        )
    stdout.print(table)


@contextmanager
def training_stages(every: float = 10.0):
    """A listener for training's stages (:class:`photoqc.pipelines.training.progress.Stages`):
    a bar per stage on a terminal; elsewhere (a log file, a CI job) a line when a stage
    starts and ends and at most ``every`` seconds apart in between."""
    from photoqc.pipelines.training.progress import LogLines

    if not console.is_terminal:
        yield LogLines(lambda line: console.print(line, markup=False, highlight=False), every)
        return
    with progress() as bars:
        tasks: dict[str, object] = {}

        def listen(event) -> None:
            task = tasks.get(event.stage)
            if task is None:
                task = tasks[event.stage] = bars.add_task(event.stage, total=event.total)
            bars.update(task, completed=event.done, total=event.total)
            if event.ended:
                bars.update(task, completed=event.total or event.done, total=event.total or 1)

        yield listen


def training_summary(outcome, out: Path) -> None:
    """Cross-validated metrics (a table), the training counts and the threshold."""
    m = outcome.cv.metrics
    table = Table(
        "metric", "mean", "std", "all out-of-fold", title=f"{int(m['folds'])}-fold cross-validation"
    )
    for name in ("roc_auc", "pr_auc", "log_loss", "accuracy"):
        table.add_row(name, *(f"{m[f'{name}_{part}']:.3f}" for part in ("mean", "std", "oof")))
    console.print(table)
    t = outcome.bundle.meta["training"]
    say(
        f"{t['images']} photos ({t['good']} good, {t['bad']} bad; "
        f"{outcome.from_cache} features from cache); threshold "
        f"{outcome.bundle.threshold:.3f} (max F1); model written to {out}"
    )
    if outcome.seconds:
        say(
            "time: "
            + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in outcome.seconds.items())
        )
    for image, message in outcome.failed[:10]:
        say(f"  left out {image}: {message}", "red")


THRESHOLD_COLUMNS = {
    "threshold": "threshold",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "accepted": "accepted",
    "wrongly_accepted": "bad in",
    "wrongly_rejected": "good out",
    "cost": "cost",
}


def threshold_table(rows, n_photos: int, chosen: float) -> None:
    """Precision, recall, F1, counts and cost per threshold (the chosen one in bold), on
    stdout."""
    table = Table(
        *THRESHOLD_COLUMNS.values(),
        title=f"{n_photos} labelled photos (bad in: bad photos accepted; good out: good "
        "photos rejected)",
        box=box.SIMPLE,
    )
    for _, row in rows.iterrows():
        cells = [
            f"{row[c]:.3f}" if i < 4 else (f"{row[c]:g}" if c == "cost" else str(int(row[c])))
            for i, c in enumerate(THRESHOLD_COLUMNS)
        ]
        if int(row["accepted"]) == 0:  # precision of nothing published: no number to give
            cells[1] = "no photo above"
        style = "bold green" if abs(row["threshold"] - chosen) < 1e-12 else None
        table.add_row(*cells, style=style)
    Console().print(table)


def demo_summary(result, out: Path, seconds: float) -> None:
    """Cross-validated and held-out ROC-AUC of the demo, where its files are, what next."""
    m = result.outcome.cv.metrics
    say(
        f"cross-validated ROC-AUC {m['roc_auc_mean']:.3f} ± {m['roc_auc_std']:.3f} on "
        f"{result.counts['train']} training photos"
    )
    say(
        f"held-out ROC-AUC {result.holdout_roc_auc:.3f} on {result.counts['holdout']} photos "
        "of scenes never seen in training",
        "bold",
    )
    say(
        f"model: {result.model_dir}  scores: {result.scores_csv}  ({seconds:.0f} s)\n"
        f"next: photoqc explain {out}/images/<photo>.jpg --model {result.model_dir}"
    )


@contextmanager
def nima_training():
    """A progress bar for ``photoqc nima train``: yields its ``(on_step, on_epoch)``
    callbacks (steps move the bar; each epoch's metrics are printed above it)."""
    with progress() as progress_bar:
        task = progress_bar.add_task("training", total=None, unit="step")

        def on_step(stage: str, epoch: int, step: int, steps: int, loss: float) -> None:
            progress_bar.update(
                task,
                total=steps,
                completed=step,
                description=f"epoch {epoch} ({stage}) loss {loss:.4f}",
            )

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            progress_bar.console.print(
                f"epoch {epoch}: train EMD {metrics['train_emd']:.4f}, validation EMD "
                f"{metrics['emd']:.4f}, LCC {metrics['lcc']:.3f}, SRCC {metrics['srcc']:.3f}",
                highlight=False,
            )

        yield on_step, on_epoch
