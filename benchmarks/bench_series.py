"""Benchmark ``dicom-rewrite series`` on a large memory-mapped int16 volume.

For each volume size (default 200 and 1000 slices of 512x512 int16, i.e.
100 MB and 500 MB; ``--dtype float32`` for the rescale path) it runs, each in a fresh process so peak memory is per
step:

* ``raw``: the floor -- write each slice's bytes to its own file from the
  memory-mapped ``.npy`` (no DICOM at all);
* ``series``: :func:`dicom_rewrite.series.write_series` with the CT template.

and reports wall time, time per slice, the ratio to the floor, and memory:
``peak RSS`` (VmHWM, everything the process ever had resident, including
pages of the mapped file), and the peaks of anonymous memory (``RssAnon``,
what the process allocated) and of mapped-file pages (``RssFile``), sampled
every 20 ms. If the series step held a copy of the volume, ``RssAnon`` would
grow by the volume size between the two runs.

    python benchmarks/bench_series.py                  # 200 and 1000 slices
    python benchmarks/bench_series.py --slices 100     # quick: 100 only
    python benchmarks/bench_series.py --sizes 50,400 --json out.json
    python benchmarks/bench_series.py --dtype float32  # the rescale path
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "templates" / "ct.dcm"


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Sampler:
    """Peak RssAnon / RssFile (kB), sampled in a background thread."""

    def __init__(self, every: float = 0.02) -> None:
        self.every = every
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for k in self.peak:
            self.peak[k] = max(self.peak[k], _status_kb(k))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.every)

    def __enter__(self) -> Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# ------------------------------------------------------------------ children

def child_make(path: Path, slices: int, rows: int, cols: int, dtype: str) -> dict:
    import numpy as np

    arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(slices, rows, cols))
    yy, xx = np.mgrid[0:rows, 0:cols]
    base = ((xx * 7 + yy * 3) % 4096 - 1024).astype(np.int16)
    scale = 1 if np.dtype(dtype).kind in "iu" else 0.001  # float: not integer-valued
    for k in range(slices):
        arr[k] = (base + (k % 100)) * scale
    arr.flush()
    del arr
    return {"bytes": path.stat().st_size}


def child_raw(path: Path, out: Path) -> dict:
    import mmap

    import numpy as np

    arr = np.load(path, mmap_mode="r")
    out.mkdir(parents=True)
    base_rss = _status_kb("VmRSS")
    t0 = time.perf_counter()
    with Sampler() as s:
        for k in range(arr.shape[0]):
            with open(out / f"slice_{k:05d}.raw", "wb") as f:
                f.write(arr[k].tobytes())
            if k % 64 == 63:
                arr._mmap.madvise(mmap.MADV_DONTNEED)
    return _figures(t0, s, base_rss, arr.shape[0])


def child_series(path: Path, out: Path) -> dict:
    from dicom_rewrite.series import write_series

    base_rss = _status_kb("VmRSS")
    t0 = time.perf_counter()
    with Sampler() as s:
        result = write_series(path, TEMPLATE, out)
    fig = _figures(t0, s, base_rss, len(result.outputs))
    fig["output_bytes"] = sum(Path(p).stat().st_size for p in result.outputs)
    return fig


def _figures(t0: float, s: Sampler, base_rss: int, n: int) -> dict:
    seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 3),
        "ms_per_slice": round(1000 * seconds / n, 3),
        "baseline_rss_mb": round(base_rss / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_anon_mb": round(s.peak["RssAnon"] / 1024, 1),
        "peak_file_mb": round(s.peak["RssFile"] / 1024, 1),
        "slices": n,
    }


# -------------------------------------------------------------------- driver

def _run_child(step: str, *args: str) -> dict:
    cmd = [sys.executable, __file__, "--child", step, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(slices: int, rows: int, cols: int, dtype: str, work: Path) -> dict:
    vol = work / f"vol_{slices}.npy"
    made = _run_child("make", str(vol), str(slices), str(rows), str(cols), dtype)
    raw = _run_child("raw", str(vol), str(work / f"raw_{slices}"))
    series = _run_child("series", str(vol), str(work / f"dcm_{slices}"))
    shutil.rmtree(work / f"raw_{slices}")
    shutil.rmtree(work / f"dcm_{slices}")
    vol.unlink()
    return {"shape": [slices, rows, cols], "dtype": dtype, "volume_mb": round(made["bytes"] / 2**20, 1),
            "raw": raw, "series": series,
            "ratio_to_raw": round(series["seconds"] / max(raw["seconds"], 1e-9), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slices", type=int, default=None,
                   help="run one size only (default: --sizes)")
    p.add_argument("--sizes", default="200,1000", help="comma-separated slice counts")
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--cols", type=int, default=512)
    p.add_argument("--dtype", default="int16",
                   help="volume data type (int16: stored directly; float32: rescaled)")
    p.add_argument("--workdir", default=None, help="scratch folder (default: a temp folder)")
    p.add_argument("--json", default=None, help="also write the figures as JSON here")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        step, *rest = args.child
        if step == "make":
            res = child_make(Path(rest[0]), int(rest[1]), int(rest[2]), int(rest[3]), rest[4])
        elif step == "raw":
            res = child_raw(Path(rest[0]), Path(rest[1]))
        else:
            res = child_series(Path(rest[0]), Path(rest[1]))
        print(json.dumps(res))
        return 0
    sizes = [args.slices] if args.slices else [int(s) for s in args.sizes.split(",")]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_series_"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in sizes:
            r = bench(n, args.rows, args.cols, args.dtype, work)
            results.append(r)
            s, w = r["series"], r["raw"]
            print(
                f"{n:5d} x {args.rows}x{args.cols} {args.dtype} ({r['volume_mb']:.0f} MB): "
                f"series {s['seconds']:.2f} s ({s['ms_per_slice']:.2f} ms/slice), "
                f"raw floor {w['seconds']:.2f} s ({w['ms_per_slice']:.2f} ms/slice), "
                f"x{r['ratio_to_raw']:.1f}; series peak RSS {s['peak_rss_mb']:.0f} MB "
                f"(baseline {s['baseline_rss_mb']:.0f} MB; anon peak {s['peak_anon_mb']:.0f} MB, "
                f"mapped-file peak {s['peak_file_mb']:.0f} MB); raw peak RSS {w['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
