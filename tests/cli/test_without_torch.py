"""The light install (``pip install photoqc``, no torch): every command but NIMA training,
Mask R-CNN and MobileNet v2 works, with the same verdicts, and those say in one line which
extra to install. torch is hidden in a subprocess (``sys.modules[name] = None``), not
uninstalled."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from conftest import encode

pytestmark = pytest.mark.slow  # spawns processes

HIDE_TORCH = (
    "import runpy, sys\n"
    "for name in ('torch', 'torchvision'):\n"
    "    sys.modules[name] = None  # import torch now raises ImportError\n"
    "sys.argv = ['photoqc', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('photoqc.cli', run_name='__main__')\n"
    "finally:\n"
    "    loaded = [m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')]\n"
    "    assert all(sys.modules[m] is None for m in loaded), loaded\n"
)


def _photoqc(*args, hide_torch: bool = True) -> subprocess.CompletedProcess:
    prelude = ["-c", HIDE_TORCH] if hide_torch else ["-m", "photoqc.cli"]
    return subprocess.run(
        [sys.executable, *prelude, *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory, astronaut, coffee, chelsea):
    photos = tmp_path_factory.mktemp("photos")
    for name, image in (("astronaut", astronaut), ("coffee", coffee), ("chelsea", chelsea)):
        (photos / f"{name}.jpg").write_bytes(encode(image, "JPEG", quality=90))
    return photos


def test_scoring_without_torch_gives_the_same_verdicts(folder, tmp_path):
    light, full = tmp_path / "light.csv", tmp_path / "full.csv"
    result = _photoqc("score", folder, "--out", light, "--offline")
    assert result.returncode == 0, result.stderr
    assert _photoqc("score", folder, "--out", full, "--offline", hide_torch=False).returncode == 0
    a, b = pd.read_csv(light), pd.read_csv(full)
    assert (a["status"] == "ok").all() and len(a) == 3
    assert (a["p_good"] - b["p_good"]).abs().max() < 1e-6
    assert a["verdict"].tolist() == b["verdict"].tolist()


def test_features_without_torch_fall_back_from_mask_r_cnn_and_say_which_extra(folder, tmp_path):
    result = _photoqc("features", folder, "--out", tmp_path / "f.csv", "--offline")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split())
    assert "falling back to fastcut" in said and "pip install 'photoqc[torch]'" in said
    assert (pd.read_csv(tmp_path / "f.csv")["segmenter"] == "fastcut").all()


@pytest.mark.parametrize(
    "args",
    [
        ("features", "{folder}", "--out", "{tmp}/f.csv", "--segmenter", "maskrcnn"),
        ("nima", "train", "{tmp}/ratings.csv", "--out", "{tmp}/nima.safetensors"),
    ],
    ids=["maskrcnn", "nima-train"],
)
def test_what_needs_torch_says_which_extra_in_one_line(folder, tmp_path, args):
    (tmp_path / "ratings.csv").write_text("image,mos\na.jpg,5\n")
    result = _photoqc(*(a.format(folder=folder, tmp=tmp_path) for a in args), "--offline")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "needs torch" in result.stderr or "needs torchvision" in result.stderr
    assert "pip install 'photoqc[torch]'" in result.stderr
