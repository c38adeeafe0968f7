"""The Getting started page's shell commands, every one, in order, in an empty folder:
they are the commands a newcomer types, so they must work as written. The install lines
are the environment these tests run in (photoqc is importable; they are not run again)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "getting-started.md"
INSTALL = re.compile(r"^(python -m venv|python -m pip install|\. \.venv/bin/activate)")


def commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(), re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_page_has_the_commands_a_newcomer_needs():
    found = commands()
    assert any(INSTALL.match(c) and "photoqc" in c for c in found)  # light install first
    for verb in ("photoqc demo", "photoqc check", "photoqc score", "photoqc report"):
        assert any(c.startswith(verb) for c in found), verb
    first_use = next(i for i, c in enumerate(found) if c.startswith("photoqc"))
    assert all(INSTALL.match(c) for c in found[:first_use])


@pytest.mark.slow
def test_every_getting_started_command_runs_as_written(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = []
    for command in commands():
        if INSTALL.match(command):
            for part in command.split("&&"):
                assert INSTALL.match(part.strip()), part
            continue
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stderr[-3000:])
        ran.append((command, done))
    said = {command: done.stdout for command, done in ran}
    dark = "demo/images/coffee_0_underexposed_095.jpg"
    assert (tmp_path / dark).is_file() and (tmp_path / "demo" / "model" / "photoqc.json").is_file()
    one = said[f"photoqc check {dark} --model demo/model"]
    assert one.startswith(f"{dark}: bad") and "too dark" in one
    lines = [json.loads(line) for line in said[next(c for c in said if "--json" in c)].splitlines()]
    assert lines[0]["image"] == dark and len(lines) == 2
    assert all("verdict" in record for record in lines)
    assert (tmp_path / "scores.csv").is_file() and (tmp_path / "report.html").is_file()
