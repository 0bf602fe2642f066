"""Benchmark: a batch that meets many kinds (sizes) of image, in any order.

Every output after the first few of a kind is filled into that kind's
encoding (``encode.fastpath``); a batch keeps a bounded memo of kinds. This
reports, in the same run, ``convert_files`` over N 8-bit PNGs of

* uniform   - one size (the fast path's best case);
* cycleK    - K sizes in turn (size 1, 2, ..., K, 1, 2, ...), for each K of --kinds;
* sortedK   - the same K sizes, each size's files together;

each with its floor (Pillow decode + raw write of the same files) and the
ratios ours/floor and ours/uniform. The sizes are 512+k rows by 512-k
columns (within 4% of the same bytes). Each size is one PNG file, and each
input a symbolic link to one (distinct names, so the inputs stay small).

    python benchmarks/bench_kinds.py [--n 2000] [--kinds 64,65,100] [--repeat 3]
        [--template templates/ct.dcm] [--workdir DIR] [--cpu] [--json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import bench_convert
import numpy as np
from _common import show
from bench_convert import REPO, floor, ours
from PIL import Image


def make_sizes(folder: Path, kinds: int) -> list[Path]:
    """One PNG per size, smallest first."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(kinds)
    paths = []
    for k in range(kinds):
        rows, cols = 512 + k, 512 - k
        y, x = np.mgrid[0:rows, 0:cols]
        arr = ((x + y) // 4 % 256).astype(np.uint8)
        arr[rng.integers(0, rows, 64), rng.integers(0, cols, 64)] = k % 256
        p = folder / f"size{k:04d}.png"
        Image.fromarray(arr).save(p, compress_level=1)
        paths.append(p)
    return paths


def as_inputs(folder: Path, files: list[Path]) -> list[Path]:
    """``files`` in this order under distinct names (symbolic links)."""
    folder.mkdir(parents=True)
    links = []
    for i, f in enumerate(files):
        link = folder / f"in{i:05d}.png"
        link.symlink_to(f)
        links.append(link)
    return links


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--kinds", default="64,65,100", help="comma-separated numbers of sizes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--template", type=Path, default=REPO / "templates" / "ct.dcm")
    ap.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    ap.add_argument("--cpu", action="store_true",
                    help="measure CPU time of the process instead of wall time (steadier when shared)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    clock = bench_convert._clock = time.process_time if args.cpu else time.perf_counter
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        orders = {"uniform": make_sizes(root / "k1", 1) * args.n}
        for k in (int(v) for v in args.kinds.split(",")):
            sizes = make_sizes(root / f"k{k}", k)
            orders[f"cycle{k}"] = [sizes[i % k] for i in range(args.n)]
            orders[f"sorted{k}"] = [sizes[i * k // args.n] for i in range(args.n)]
        cases = {name: as_inputs(root / "in" / name, files) for name, files in orders.items()}
        ours(cases["uniform"][:5], args.template, root / "warm")  # imports and caches
        best = {name: [float("inf"), float("inf")] for name in cases}
        for r in range(args.repeat):  # best of interleaved runs
            for name, paths in cases.items():
                out = root / f"{name}-{r}"
                best[name][0] = min(best[name][0], floor(paths, out / "floor"))
                best[name][1] = min(best[name][1], ours(paths, args.template, out / "ours"))
                for f in out.rglob("*"):  # keep the RAM disk small
                    if f.is_file():
                        f.unlink()
    uniform = best["uniform"][1]
    result: dict[str, object] = {"clock": "cpu" if clock is time.process_time else "wall",
                                 "n": args.n, "template": str(args.template.name)}
    for name, (t_floor, t_ours) in best.items():
        result[f"{name}_s"] = round(t_ours, 3)
        result[f"{name}_vs_floor"] = round(t_ours / t_floor, 2)
        result[f"{name}_vs_uniform"] = round(t_ours / uniform, 2)
    show(result, args.json)


if __name__ == "__main__":
    main()
