"""Peak memory of photoqc's batch commands: per photo size, and for a million inputs.

Usage::

    python benchmarks/bench_memory.py [--rows 1000000] [--sizes 12 48]

Each measurement runs the real command in a child process and reads the child's peak
resident set size from the kernel (``wait4``). Printed:

- ``baseline``: the interpreter with photoqc's pipeline imported (torch, OpenCV...);
- ``photo <N> MP``: ``photoqc features`` (default recipe: fastcut, NIMA) on one N-megapixel
  JPEG, and its peak above the baseline;
- ``rows <N>``: ``photoqc features`` on a CSV listing N missing files (N error rows, the
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
    """Peak resident memory (MiB) and exit code of ``command`` run as a child."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", type=float, nargs="*", default=[12.0, 48.0])
    parser.add_argument(
        "--features-args",
        default="--offline",
        help="options for each `photoqc features` run",
    )
    args = parser.parse_args()
    photoqc = [sys.executable, "-m", "photoqc.cli"]
    extra = args.features_args.split()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        baseline, _ = peak_mib(
            [sys.executable, "-c", "import photoqc.assess.scorer, torch, cv2, lightgbm"]
        )
        print(f"baseline (photoqc imported): {baseline:.0f} MiB")
        for size in args.sizes:
            folder = scratch / f"photo{size:g}"
            folder.mkdir()
            photo(folder / "photo.jpg", size)
            peak, code = peak_mib(
                [*photoqc, "features", str(folder), "-o", str(scratch / "f.csv"), *extra]
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
                [*photoqc, "features", str(listing), "-o", str(scratch / "rows.parquet"), *extra]
            )
            print(f"rows {args.rows}: peak {peak:.0f} MiB (exit {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
