"""Benchmark: export N 512x512 CT slices (16-bit, rescaled, windowed) to PNG.

Reports, in the same run and on the same files:

* floor  - read each file with pydicom, decode the pixels and save them as an
           8-bit PNG with no windowing at all (high byte only): the least any
           exporter must do;
* naive  - what people do by hand: ``apply_modality_lut``, ``apply_voi_lut``,
           scale the float result to 0..255 and save (no MONOCHROME1 or
           Presentation LUT handling, no atomic writes, no report);
* ours   - ``dicom_rewrite.export.export`` (full PS3.4 pipeline, atomic
           writes, report entries);

and ours/floor, ours/naive ratios.

    python benchmarks/bench_export.py [--n 200] [--repeat 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from _common import figures, show
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut

REPO = Path(__file__).resolve().parents[1]


def make_slices(folder: Path, n: int) -> list[Path]:
    """N CT slices from the shipped template: a gradient phantom in HU."""
    from dicom_rewrite.series import write_series

    y, x = np.mgrid[0:512, 0:512]
    base = ((x + y) * 3 - 1024).astype(np.int16)
    vol = np.stack([base + (k % 50) for k in range(n)])
    result = write_series(vol, REPO / "templates" / "ct.dcm", folder, spacing=(1.0, 0.7, 0.7))
    return [Path(p) for p in result.outputs]


def floor(paths: list[Path], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for p in paths:
        arr = pydicom.dcmread(p).pixel_array
        Image.fromarray((arr.view(np.uint16) >> 8).astype(np.uint8)).save(out / f"{p.stem}.png")
    return time.perf_counter() - t


def naive(paths: list[Path], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for p in paths:
        ds = pydicom.dcmread(p)
        values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
        lo, hi = float(values.min()), float(values.max())
        img = ((values - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8)
        Image.fromarray(img).save(out / f"{p.stem}.png")
    return time.perf_counter() - t


def ours(paths: list[Path], out: Path) -> float:
    from dicom_rewrite.export import export

    t = time.perf_counter()
    for entry in export(paths, out):
        assert entry["status"] == "ok", entry
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                    help="where inputs and outputs go (default: RAM-backed /dev/shm when present)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        paths = make_slices(root / "dcm", args.n)
        ours(paths[:3], root / "warm")  # imports
        t_floor = t_naive = t_ours = float("inf")
        for r in range(args.repeat):  # best of interleaved runs
            t_floor = min(t_floor, floor(paths, root / f"floor{r}"))
            t_naive = min(t_naive, naive(paths, root / f"naive{r}"))
            t_ours = min(t_ours, ours(paths, root / f"ours{r}"))
    result = {
        "n": args.n,
        **figures(args.n, t_floor, t_naive, t_ours),
    }
    show(result, args.json)


if __name__ == "__main__":
    main()
