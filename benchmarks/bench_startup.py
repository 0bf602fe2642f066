"""Benchmark: start-up of whole CLI processes against the floor's start-up.

Reports, in the same run (median of --repeat interleaved runs, wall time):

* floor_import - ``python -c 'import numpy, PIL.Image'`` (what any image
                 converter in Python starts with);
* help, version - ``dicom-rewrite --help`` / ``--version``;
* convert_help - ``dicom-rewrite convert --help``;
* convert_one  - ``dicom-rewrite convert one.png --template ct.dcm --out DIR --no-fsync``;
* floor_one    - the floor for one file: import numpy + Pillow, decode the PNG, write its bytes.

    python benchmarks/bench_startup.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import show
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _run(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    cli = [py, "-m", "dicom_rewrite"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        png = root / "one.png"
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (512, 512), dtype=np.uint8)).save(png)
        floor_one = (f"import numpy as np; from PIL import Image; a = np.asarray(Image.open({str(png)!r})); "
                     f"open({str(root / 'raw.bin')!r}, 'wb').write(a.tobytes())")
        cases = {
            "floor_import": [py, "-c", "import numpy, PIL.Image"],
            "help": [*cli, "--help"],
            "version": [*cli, "--version"],
            "convert_help": [*cli, "convert", "--help"],
            "floor_one": [py, "-c", floor_one],
            "convert_one": [*cli, "convert", str(png), "--template", str(REPO / "templates" / "ct.dcm"),
                            "--out", str(root / "out"), "--no-fsync", "--overwrite"],
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.repeat):
            for name, argv in cases.items():
                times[name].append(_run(argv))
    med = {k: statistics.median(v) for k, v in times.items()}
    result: dict[str, object] = {f"{k}_s": round(v, 3) for k, v in med.items()}
    result["help_vs_floor_import"] = round(med["help"] / med["floor_import"], 2)
    result["convert_one_vs_floor_one"] = round(med["convert_one"] / med["floor_one"], 2)
    show(result, args.json)


if __name__ == "__main__":
    main()
