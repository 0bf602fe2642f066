"""Benchmark: ``convert --workers`` as whole command-line runs, against the
floor run as as many processes, in the same run and on the same files.

* floor x1, x2 - Pillow decode + raw write of each image's bytes, by one
  process over every file, and by two processes over half the files each
  (the least any converter on one and on two cores must do, start-up
  included: a fresh interpreter importing numpy and Pillow);
* workers 1, 2 - ``dicom-rewrite convert DIR --workers N --no-fsync`` (a
  fresh interpreter: start-up, walk, conversion, report);

* ``--dask``: also the Dask path on this machine, from Python: a batch on a
  LocalCluster of 2 single-threaded worker processes (started before, its
  start-up not counted) against ``convert_files(workers=2)`` in the same
  process (pool start-up counted, as it is part of every such batch);

best of ``--repeat`` interleaved runs each, and the ratios: workers 2 /
workers 1 (the target is at most 0.6 on 2 cores), and each against its
floor. The outputs of --workers 1 and 2 are compared byte for byte (hashed
UIDs and a fixed clock make two runs comparable).

    python benchmarks/bench_workers.py [--n 2000] [--repeat 3] [--workdir DIR] [--dask] [--json]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import show
from bench_convert import make_pngs

REPO = Path(__file__).resolve().parents[1]

FLOOR = """
import sys
from pathlib import Path
import numpy as np
from PIL import Image
out = Path(sys.argv[1])
for f in sys.argv[2:]:
    with Image.open(f) as im:
        a = np.asarray(im)
    (out / (Path(f).stem + ".raw")).write_bytes(a.tobytes())
"""

PROFILE = "uids:\n  key: bench\n  study: hash\n  series: hash\n  instance: hash\n  frame_of_reference: hash\n"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "1767225600"}


def floor(files: list[Path], out: Path, procs: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    chunks = [files[i::procs] for i in range(procs)]
    t = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", FLOOR, str(out), *map(str, c)], env=_env()) for c in chunks]
    if any(p.wait() for p in running):
        raise SystemExit("floor failed")
    return time.perf_counter() - t


def ours(src: Path, out: Path, workers: int, profile: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "dicom_rewrite", "convert", str(src), "--template", str(REPO / "templates" / "ct.dcm"),
           "--profile", str(profile), "--out", str(out), "--no-fsync", "--workers", str(workers)]
    t = time.perf_counter()
    subprocess.run(cmd, env=_env(), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def in_process(src: Path, out: Path, profile: Path, executor: object | None) -> float:
    from dicom_rewrite import convert_files

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    for _ in convert_files([src], REPO / "templates" / "ct.dcm", out, profile, durable=False, workers=2,
                           executor=executor):  # type: ignore[arg-type]
        pass
    return time.perf_counter() - t


def dask_rows(src: Path, base: Path, profile: Path, repeat: int) -> dict[str, object]:
    from distributed import Client, LocalCluster

    from dicom_rewrite.distributed import DaskExecutor

    best = {"workers_2_inproc_s": float("inf"), "dask_s": float("inf")}
    for _ in range(repeat):  # before the cluster: its threads would make the pool spawn, not fork
        best["workers_2_inproc_s"] = min(best["workers_2_inproc_s"], in_process(src, base / "w2p", profile, None))
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    client = Client(cluster)
    started = time.perf_counter() - t
    try:
        for _ in range(repeat):
            best["dask_s"] = min(best["dask_s"], in_process(src, base / "dask", profile, DaskExecutor(client)))
    finally:
        client.close()
        cluster.close()
    return {"dask_cluster_start_s": round(started, 2), **{k: round(v, 2) for k, v in best.items()},
            "dask_vs_workers_2": round(best["dask_s"] / best["workers_2_inproc_s"], 2),
            "dask_byte_identical": same_outputs(base / "dask", base / "w2p")}


def same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    return not mismatch and not errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="working folder (default: a temporary folder on /dev/shm when there is one)")
    ap.add_argument("--dask", action="store_true", help="also the Dask path (LocalCluster) vs --workers 2")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    shm = Path("/dev/shm")
    base = args.workdir or Path(tempfile.mkdtemp(prefix="bench-workers-", dir=shm if shm.is_dir() else None))
    try:
        src = base / "in"
        files = make_pngs(src, args.n)
        profile = base / "hash.yaml"
        profile.write_text(PROFILE, encoding="utf-8")
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for key, run in (("floor_x1_s", lambda: floor(files, base / "floor", 1)),
                             ("floor_x2_s", lambda: floor(files, base / "floor", 2)),
                             ("workers_1_s", lambda: ours(src, base / "w1", 1, profile)),
                             ("workers_2_s", lambda: ours(src, base / "w2", 2, profile))):
                best[key] = min(best.get(key, float("inf")), run())
        result: dict[str, object] = {"files": args.n, "cpus": len(os.sched_getaffinity(0)),
                                     **{k: round(v, 2) for k, v in best.items()}}
        result["workers_2_vs_1"] = round(best["workers_2_s"] / best["workers_1_s"], 2)
        result["floor_x2_vs_x1"] = round(best["floor_x2_s"] / best["floor_x1_s"], 2)
        result["workers_1_vs_floor_x1"] = round(best["workers_1_s"] / best["floor_x1_s"], 2)
        result["workers_2_vs_floor_x2"] = round(best["workers_2_s"] / best["floor_x2_s"], 2)
        result["per_file_ms_workers_1"] = round(1000 * best["workers_1_s"] / args.n, 2)
        result["byte_identical"] = same_outputs(base / "w1", base / "w2")
        if args.dask:
            os.environ.update(_env())
            result.update(dask_rows(src, base, profile, args.repeat))
        show(result, args.json)
    finally:
        if args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
