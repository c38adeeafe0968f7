"""The README's promises: its commands are the ones CI runs, and it stands on its own."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_ci_runs_exactly_the_readme_install_and_test_commands():
    block = re.search(r"## Set up and test.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.strip() for line in block.splitlines() if line.strip()]
    assert commands == ['python -m pip install -e ".[dev]"', "python -m pytest"]
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("python -m")
    ]
    assert ci == commands


def test_readme_points_at_nothing_outside_the_repository():
    links = re.findall(r"\]\(([^)]+)\)", README)
    outside = [link for link in links if link.startswith("..") or link.startswith("/")]
    assert not outside, outside
    assert "../" not in README, "the README should not send readers beside the repository"
