"""Per-image metadata: the cost of ``convert --metadata`` against the same
batch without it, in the same run.

An NIH ChestX-ray14 look-alike (``sample_data/make_datasets.py``: N PNGs and
their ``Data_Entry_2017.csv``) is converted into the DX template

* without metadata: ``templates/base.yaml`` (one synthetic patient);
* with metadata: ``templates/nih-chestxray14.yaml`` and the table (a patient
  per Patient ID, a study per follow-up, age, sex, view, spacing from the row),

each best of ``--repeat`` interleaved runs, outputs not fsynced (so disk
noise does not drown the CPU cost). The target is a ratio of at most 1.2.

    .venv/bin/python benchmarks/bench_metadata.py --n 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import show  # noqa: E402
from dicom_rewrite.convert import convert_files  # noqa: E402

DX = REPO / "templates" / "dx.dcm"


def _make(folder: Path, n: int, size: int) -> tuple[Path, Path]:
    spec = importlib.util.spec_from_file_location("make_datasets", REPO / "sample_data" / "make_datasets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.make_nih(folder / "nih", n, size)
    return folder / "nih" / "images", table


def _run(images: Path, out: Path, profile: Path, table: Path | None) -> tuple[float, float]:
    """(wall-clock, CPU) seconds of one batch; CPU time is the steadier
    figure on a shared machine."""
    shutil.rmtree(out, ignore_errors=True)
    t0, c0 = time.perf_counter(), time.process_time()
    entries = list(convert_files([images], DX, out, profile, durable=False, metadata=table))
    elapsed = time.perf_counter() - t0, time.process_time() - c0
    assert all(e["status"] == "ok" for e in entries), [e for e in entries if e["status"] != "ok"][:1]
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256, help="image size in pixels (default 256)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        images, table = _make(work, args.n, args.size)
        plain, meta = [], []
        for _ in range(args.repeat):
            plain.append(_run(images, work / "out", REPO / "templates" / "base.yaml", None))
            meta.append(_run(images, work / "out", REPO / "templates" / "nih-chestxray14.yaml", table))
        studies = {p.read_bytes().count(b"NIH") > 0 for p in (work / "out").glob("*.dcm")}
        assert studies == {True}
    wall = (min(t for t, _c in plain), min(t for t, _c in meta))
    cpu = (min(c for _t, c in plain), min(c for _t, c in meta))
    show({
        "files": args.n, "size": f"{args.size}x{args.size}",
        "without_metadata_s": round(wall[0], 3), "with_metadata_s": round(wall[1], 3),
        "with_metadata_per_file_ms": round(1000 * wall[1] / args.n, 2),
        "with_vs_without": round(wall[1] / wall[0], 2),
        "cpu_without_s": round(cpu[0], 3), "cpu_with_s": round(cpu[1], 3),
        "cpu_with_vs_without": round(cpu[1] / cpu[0], 2),
    }, args.json)


if __name__ == "__main__":
    main()
