"""Peak memory of `photoqc score`: per photo size, and for a million inputs.

Usage::

    python benchmarks/bench_memory.py [--rows 1000000] [--sizes 12 48]

Each measurement runs the real command in a child process and reads the child's peak
resident set size from the kernel (``wait4``). Printed:

- ``baseline``: the interpreter with photoqc's pipeline imported and its networks built;
- ``photo <N> MP``: ``photoqc score`` (built-in model: fastcut, NIMA) on one N-megapixel
  JPEG, and its peak above the baseline;
- ``rows <N>``: ``photoqc score`` on a CSV listing N missing files (N error rows, the
  cheapest row there is), which shows whether rows stream to the output or pile up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data


def peak_mib(command: list[str]) -> tuple[float, int]:
    """Peak resident memory (MiB) and exit code of ``command`` run as a child.

    Linux hands a child the resident size its parent had when it forked as the start of
    its peak, so this process must stay small: photos are made in children of their own
    (:func:`make_photo`)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, process.returncode


def photo(path: Path, megapixels: float) -> Path:
    """A textured JPEG of about ``megapixels`` (scikit-image's astronaut, enlarged, noisy)."""
    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = width * 3 // 4
    image = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).normal(0, 4, image.shape)
    Image.fromarray(np.clip(image + noise, 0, 255).astype(np.uint8)).save(path, quality=92)
    return path


def make_photo(path: Path, megapixels: float) -> Path:
    """:func:`photo`, made in a child process (see :func:`peak_mib`)."""
    code = f"from bench_memory import photo; photo({str(path)!r}, {megapixels!r})"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
    return Path(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", type=float, nargs="*", default=[12.0, 48.0])
    parser.add_argument(
        "--score-args",
        default="",
        help="options for each `photoqc score` run",
    )
    args = parser.parse_args()
    photoqc = [sys.executable, "-m", "photoqc.cli"]
    extra = args.score_args.split()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        # What `photoqc score` holds before its first photo: the pipeline imported, the
        # built-in model, its segmenter and both NIMA networks built (torch is not needed).
        loaded = (
            "from photoqc.assess.recipe import RecipeOptions\n"
            "from photoqc.assess.scorer import Scorer\n"
            "from photoqc.models.bundle import default_model_dir\n"
            "import photoqc.cli\n"
            "Scorer.from_model(default_model_dir(), RecipeOptions(offline=True))[0].extractor\n"
        )
        baseline, _ = peak_mib([sys.executable, "-c", loaded])
        print(f"baseline (pipeline imported, networks loaded): {baseline:.0f} MiB")
        for size in args.sizes:
            folder = scratch / f"photo{size:g}"
            folder.mkdir()
            make_photo(folder / "photo.jpg", size)
            peak, code = peak_mib(
                [*photoqc, "score", str(folder), "--out", str(scratch / "s.csv"), *extra]
            )
            print(
                f"photo {size:g} MP: peak {peak:.0f} MiB, {peak - baseline:.0f} MiB above the "
                f"baseline (exit {code})"
            )
        if args.rows:
            listing = scratch / "list.csv"
            with listing.open("w") as handle:
                handle.write("image\n")
                handle.writelines(f"/nonexistent/photo_{i:08d}.jpg\n" for i in range(args.rows))
            peak, code = peak_mib(
                [*photoqc, "score", str(listing), "--out", str(scratch / "rows.parquet"), *extra]
            )
            print(f"rows {args.rows}: peak {peak:.0f} MiB (exit {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
