"""The ``photoqc`` command line: one command per verb.

Each command parses its options, calls one pipeline function and prints what came back.
The verbs live in modules of their own (:mod:`~photoqc.cli.score` for ``features``,
``list-features`` and ``score``; :mod:`~photoqc.cli.train`, :mod:`~photoqc.cli.rank`,
:mod:`~photoqc.cli.review` for ``explain``, ``tune`` and ``report``; :mod:`~photoqc.cli.demo`,
:mod:`~photoqc.cli.serve`, :mod:`~photoqc.cli.nima`); options several verbs share are
declared once in :mod:`~photoqc.cli.options`, and what several verbs do alike in
:mod:`~photoqc.cli.common`. This module holds the app and the one place where every
:class:`photoqc.errors.PhotoqcError` becomes one line on stderr and its exit code
(:class:`_Commands`): 0 success; 1 the job could not run; 2 wrong usage; 3 some rows are
errors and ``--fail-on-error`` was given; 130 interrupted (rows kept, resumable).
"""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer
from rich.logging import RichHandler
from typer.core import TyperGroup

from photoqc import terminal
from photoqc.cli import demo, nima, rank, review, score, serve, train
from photoqc.cli.options import option
from photoqc.decoder_messages import route_to_log
from photoqc.errors import PhotoqcError
from photoqc.terminal import say

APP_HELP = (
    "Decide whether listing photos are technically good enough to publish, and say why.\n\n"
    "One photo: `photoqc check PHOTO` (verdict and reasons; `--json` for scripts). "
    "Try it all: `photoqc demo` (offline). Then: `photoqc train LABELS.csv "
    "--out model/`, `photoqc score PHOTOS/ --model model/ --out scores.csv`, `photoqc explain "
    "PHOTO --model model/`, `photoqc report scores.csv --out report.html`. "
    "`photoqc features PHOTOS/ --out features.parquet` measures brightness, contrast, "
    "clipping, sharpness, noise, compression and object-versus-background light without "
    "a model. `photoqc serve` answers uploads over HTTP (`POST /v1/check`) and shows a "
    "page to drop a photo on. "
    "`photoqc rank MANIFEST --group-by listing_id --out ranked.csv` chooses each listing's "
    "cover photo."
)


class _Commands(TyperGroup):
    """The one place where errors photoqc can name become a line on stderr and an exit
    code, and an interruption says what was kept."""

    def invoke(self, ctx):
        from photoqc.errors import EXIT_INTERRUPTED
        from photoqc.pipelines.batch.outputs import Interrupted

        try:
            return super().invoke(ctx)
        except PhotoqcError as exc:
            terminal.error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except Interrupted as stop:
            say(
                f"interrupted: {stop.kept} rows kept in {stop.out}; run the same command again "
                "to go on from there",
                "bold yellow",
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None


def _version(value: bool) -> None:
    if value:
        from photoqc._version import __version__

        typer.echo(f"photoqc {__version__}")
        raise typer.Exit()


Verbose = Annotated[bool, option("--verbose", "-v", help="Log progress details (INFO level).")]
Version = Annotated[
    bool,
    option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
]

app = typer.Typer(
    name="photoqc",
    cls=_Commands,
    help=APP_HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(verbose: Verbose = False, version: Version = False) -> None:
    """photoqc: technical quality checks for listing photos."""
    # SIGTERM stops a run the way Ctrl-C does: workers end, written rows are kept and said.
    signal.signal(signal.SIGTERM, _interrupt)
    # libjpeg's "Corrupt JPEG data" lines go to the log, not between the progress bars.
    route_to_log()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=terminal.console, show_path=False, show_time=False)],
        force=True,
    )


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


_VERBS = {
    **score.COMMANDS,
    **train.COMMANDS,
    **rank.COMMANDS,
    **review.COMMANDS,
    **demo.COMMANDS,
    **serve.COMMANDS,
}
ORDER = ("check", "features", "list-features", "train", "score", "rank", "explain", "demo", "tune")
"""The order `photoqc --help` lists the verbs in (then report, serve and nima)."""
for _name in (*ORDER, *(n for n in _VERBS if n not in ORDER)):
    app.command(_name)(_VERBS[_name])
app.add_typer(nima.app, name="nima")

__all__ = ["app"]

if __name__ == "__main__":  # pragma: no cover
    app()
