"""Benchmark: convert N 512x512 8-bit PNGs with one template.

Reports, in the same run and on the same files:

* floor  - Pillow decode + raw write of each image's bytes (the least any
           converter must do);
* naive  - what people do by hand: re-read the template for every file,
           ``set_pixel_data`` and save (no scrub, no validation);
* ours   - ``dicom_rewrite.convert_files`` (template parsed once, full scrub,
           IOD completion, atomic writes), without fsync like the floor;
* durable - ours with its default fsync of every file and folder (the cost
           of surviving a power loss, on this run's file system);

and ours/floor, ours/naive ratios. Peak RSS growth is measured by running
``ours`` on N and on 4N files in fresh subprocesses.

    python benchmarks/bench_convert.py [--n 200] [--template templates/ct.dcm]
        [--profile templates/research-anonymous.yaml] [--workdir DIR] [--cpu]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import figures, show
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


#: the clock the figures use: wall time, or CPU time of this process (user +
#: system; steadier on a shared VM, and still counts the file-system work)
_clock = time.perf_counter


def make_pngs(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:512, 0:512]
    base = ((x + y) // 4 % 256).astype(np.uint8)
    paths = []
    for i in range(n):
        arr = base.copy()
        arr[rng.integers(0, 512, 64), rng.integers(0, 512, 64)] = i % 256
        p = folder / f"img{i:04d}.png"
        Image.fromarray(arr).save(p, compress_level=1)
        paths.append(p)
    return paths


def floor(paths: list[Path], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    t = _clock()
    for p in paths:
        with Image.open(p) as im:
            data = np.asarray(im).tobytes()
        (out / (p.stem + ".raw")).write_bytes(data)
    return _clock() - t


def naive(paths: list[Path], template: Path, out: Path) -> float:
    import pydicom

    out.mkdir(parents=True, exist_ok=True)
    t = _clock()
    for p in paths:
        ds = pydicom.dcmread(template)
        with Image.open(p) as im:
            arr = np.asarray(im).astype(np.uint16)
        ds.set_pixel_data(arr, "MONOCHROME2", 16)
        ds.save_as(out / (p.stem + ".dcm"))
    return _clock() - t


def ours(paths: list[Path], template: Path, out: Path, profile: Path | None = None,
         durable: bool = False) -> float:
    from dicom_rewrite import convert_files

    t = _clock()
    for entry in convert_files(paths, template, out, profile, durable=durable):
        assert entry["status"] == "ok", entry
    return _clock() - t


def peak_rss_child(folder: Path, n: int, template: Path, profile: Path | None) -> int:
    """Peak RSS (kB) of a fresh process converting the first n files."""
    code = (
        "import sys;from pathlib import Path;"
        "from dicom_rewrite import convert_files;"
        f"paths=sorted(Path({str(folder)!r}).glob('*.png'))[:{n}];"
        f"out=Path({str(folder)!r}).parent/'rss{n}';"
        f"[e for e in convert_files(paths,{str(template)!r},out,{str(profile) if profile else None!r},"
        "durable=False)];"
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(res.stdout.strip())


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--template", type=Path, default=REPO / "templates" / "ct.dcm")
    ap.add_argument("--profile", type=Path, default=None,
                    help="a profile for ours (the naive approach applies none)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                    help="where inputs and outputs go (default: RAM-backed /dev/shm when "
                         "present, so disk noise does not drown the CPU cost; '' = system temp)")
    ap.add_argument("--cpu", action="store_true",
                    help="measure CPU time of the process instead of wall time")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    global _clock
    _clock = time.process_time if args.cpu else time.perf_counter
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        paths = make_pngs(root / "png", 4 * args.n)
        sample = paths[: args.n]
        ours(sample[:5], args.template, root / "warm", args.profile)  # imports and caches
        # best of --repeat interleaved runs: the figures compare like with like
        t_floor = t_naive = t_ours = t_durable = float("inf")
        for r in range(args.repeat):
            t_floor = min(t_floor, floor(sample, root / f"floor{r}"))
            t_naive = min(t_naive, naive(sample, args.template, root / f"naive{r}"))
            t_ours = min(t_ours, ours(sample, args.template, root / f"ours{r}", args.profile))
            t_durable = min(t_durable, ours(sample, args.template, root / f"durable{r}", args.profile,
                                            durable=True))
        rss_n = peak_rss_child(root / "png", args.n, args.template, args.profile)
        rss_4n = peak_rss_child(root / "png", 4 * args.n, args.template, args.profile)
    result = {
        "clock": "cpu" if args.cpu else "wall",
        "n": args.n,
        "template": _shown(args.template),
        "profile": _shown(args.profile) if args.profile else None,
        **figures(args.n, t_floor, t_naive, t_ours),
        "durable_s": round(t_durable, 3),
        "durable_vs_ours": round(t_durable / t_ours, 2),
        f"peak_rss_kB_{args.n}_files": rss_n,
        f"peak_rss_kB_{4 * args.n}_files": rss_4n,
    }
    show(result, args.json)


if __name__ == "__main__":
    main()
