"""Benchmark ``series --reference`` and ``--as seg`` against ``series
--template`` (the baseline) in the same run.

A source series of N slices (default 100 of 512x512 int16, CT) is written
with pydicom; a uint8 mask of its shape is then written, each step in a fresh
process (the times include start-up and reading the source headers):

* ``template``: ``write_series(mask, ct.dcm)`` -- one template, the stamp
  fast path (the baseline);
* ``reference``: ``write_derived_series(mask, source)`` -- one template per
  slice (each source slice), every slice built the ordinary way;
* ``seg``: ``write_segmentation(mask, source)`` -- one Segmentation instance.

    python benchmarks/bench_reference.py               # 100 slices
    python benchmarks/bench_reference.py --slices 300 --rounds 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STEP = {
    "template": "from dicom_rewrite.series import write_series as w; "
                "w(MASK, REPO + '/templates/ct.dcm', OUT, durable=False)",
    "reference": "from dicom_rewrite.series import write_derived_series as w; w(MASK, SRC, OUT, durable=False)",
    "seg": "from dicom_rewrite.series import write_segmentation as w; w(MASK, SRC, OUT, durable=False)",
}


def make_source(folder: Path, n: int) -> Path:
    import numpy as np
    import pydicom
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True)
    t = pydicom.dcmread(REPO / "templates" / "ct.dcm")
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    pixels = np.zeros((512, 512), np.int16).tobytes()
    for k in range(n):
        ds = t.copy()
        ds.Rows = ds.Columns = 512
        ds.ImagePositionPatient = [-250, -250, -k * 2.0]  # numbered top-down
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.9, 0.9]
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.PixelData = pixels
        ds.save_as(folder / f"IM{k + 1:04d}.dcm", enforce_file_format=True)
    mask = np.zeros((n, 512, 512), np.uint8)
    mask[n // 3: n // 2, 200:300, 200:300] = 1
    np.save(folder.parent / "mask.npy", mask)
    return folder


def run(step: str, work: Path, k: int) -> float:
    out = work / f"out-{step}-{k}"
    code = (f"REPO={str(REPO)!r}; MASK={str(work / 'mask.npy')!r}; SRC={str(work / 'src')!r}; "
            f"OUT={str(out)!r}; {STEP[step]}")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO)})
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slices", type=int, default=100)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as tmp:
        work = Path(tmp)
        make_source(work / "src", args.slices)
        times: dict[str, list[float]] = {s: [] for s in STEP}
        for k in range(args.rounds):  # interleaved: the machine's load hits every step alike
            for step in STEP:
                times[step].append(run(step, work, k))
        base = min(times["template"])
        print(f"{args.slices} slices of 512x512, best of {args.rounds}:")
        for step, ts in times.items():
            best = min(ts)
            print(f"  {step:9s} {best:6.2f} s  {1000 * best / args.slices:6.1f} ms/slice  x{best / base:.2f}")


if __name__ == "__main__":
    main()
