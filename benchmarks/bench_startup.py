"""Benchmark: start-up of whole CLI processes against the floor's start-up.

Reports, in the same run (median of --repeat interleaved runs, wall time):

* floor_import - ``python -c 'import numpy, PIL.Image'`` (what any image
                 converter in Python starts with);
* help, version - ``dicom-rewrite --help`` / ``--version``;
* convert_help - ``dicom-rewrite convert --help``;
* convert_one  - ``dicom-rewrite convert one.png --template ct.dcm --out DIR --no-fsync``;
* floor_one    - the floor for one file: import numpy + Pillow, decode the PNG, write its bytes.

Every process runs with its bytecode cached, as an installed package does
(pip compiles it at install): ``PYTHONDONTWRITEBYTECODE`` is dropped and the
cache goes to a temporary ``PYTHONPYCACHEPREFIX``, filled by a first
unmeasured round. Besides the median wall time, each case's median CPU time
(user + system of the child) is reported: steadier on a shared machine.

    python benchmarks/bench_startup.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one child process."""
    cpu, t = _cpu_of_children(), time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=cwd, env=env)
    return time.perf_counter() - t, _cpu_of_children() - cpu


def _env(root: Path, as_given: bool, source: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if not as_given:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="the source folder of another version (e.g. an export of main): its "
                         "convert_one and help run in the same rounds, as baseline_*")
    ap.add_argument("--env-as-given", action="store_true",
                    help="keep the caller's bytecode settings (e.g. PYTHONDONTWRITEBYTECODE=1)")
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
        convert_one = [*cli, "convert", str(png), "--template", str(REPO / "templates" / "ct.dcm"),
                       "--out", str(root / "out"), "--no-fsync", "--overwrite"]
        env = _env(root, args.env_as_given)
        # (argv, environment, folder): ``python -m`` imports from the folder first
        cases = {
            "floor_import": ([py, "-c", "import numpy, PIL.Image"], env, REPO),
            "help": ([*cli, "--help"], env, REPO),
            "version": ([*cli, "--version"], env, REPO),
            "convert_help": ([*cli, "convert", "--help"], env, REPO),
            "floor_one": ([py, "-c", floor_one], env, REPO),
            "convert_one": (convert_one, env, REPO),
        }
        if args.baseline is not None:
            base = args.baseline.resolve()
            base_env = _env(root, args.env_as_given, base)
            cases["baseline_help"] = ([*cli, "--help"], base_env, base)
            cases["baseline_convert_one"] = (convert_one, base_env, base)
        for case in cases.values():  # fills the bytecode cache
            _run(*case)
        times: dict[str, list[float]] = {k: [] for k in cases}
        cpu: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.repeat):
            for name, case in cases.items():
                wall, used = _run(*case)
                times[name].append(wall)
                cpu[name].append(used)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result: dict[str, object] = {f"{k}_s": round(v, 3) for k, v in med.items()}
    result.update({f"{k}_cpu_s": round(v, 3) for k, v in med_cpu.items()})
    result["help_vs_floor_import"] = round(med["help"] / med["floor_import"], 2)
    for name in ("convert_one", "baseline_convert_one"):
        if name in med:
            result[f"{name}_vs_floor_one"] = round(med[name] / med["floor_one"], 2)
            result[f"{name}_vs_floor_one_cpu"] = round(med_cpu[name] / med_cpu["floor_one"], 2)
    show(result, args.json)


if __name__ == "__main__":
    main()
