"""The command line's public interface: every verb keeps the flags and arguments scripts
use (``tests/data/cli_flags.json`` was read off the command line before it became a
package), and the verbs keep their order in ``photoqc --help``."""

from __future__ import annotations

import json
from pathlib import Path

import typer.main

from photoqc.cli import app

RECORDED = Path(__file__).parents[1] / "data" / "cli_flags.json"


def flag_sets() -> dict[str, list[str]]:
    """Each verb (``nima train`` for sub-verbs, ``photoqc`` for the app) -> its option flags
    and, as ``<name>``, its arguments."""
    out: dict[str, list[str]] = {}

    def walk(command, path: list[str]) -> None:
        params = command.params
        flags = sorted(
            o for p in params if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)
        )
        if hasattr(command, "commands"):
            out[" ".join(path) or "photoqc"] = flags
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            out[" ".join(path)] = flags + [
                f"<{p.name}>" for p in params if p.param_type_name == "argument"
            ]

    walk(typer.main.get_command(app), [])
    return out


def test_every_verb_keeps_its_flags_and_arguments():
    recorded = json.loads(RECORDED.read_text())
    now = flag_sets()
    assert sorted(now) == sorted(recorded)
    for verb, flags in recorded.items():
        assert now[verb] == flags, verb


def test_the_verbs_keep_their_order_in_help():
    group = typer.main.get_command(app)
    assert group.list_commands(None) == [
        "check", "features", "list-features", "train", "score", "rank", "explain", "demo",
        "tune", "report", "serve", "nima",
    ]  # fmt: skip
