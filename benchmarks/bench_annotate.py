"""Benchmark: annotate N 512x512 CT slices (a series written by ``series``
from the CT template), one box each, given as a COCO prediction list.

Reports, in the same run and on the same files:

* floor - the least any annotator must do: decode each slice (pydicom),
          window it, draw the box (numpy), write the raw RGB bytes;
* seed  - the approach of hand-written scripts: pydicom read, window, draw,
          set PixelData (RGB), fix the pixel tags and UIDs, save;
* ours  - ``dicom_rewrite.annotate.annotate_files`` (every source repaired
          and checked, a derived image through the engine, atomic writes),
          without fsync like the floor;

and ours/floor, ours/seed ratios (target: ours within 2x the floor). Peak
memory (VmHWM of a fresh process) is measured for ``--gsps`` runs on N and
on ``--many`` small (64 x 64) slices: what is kept for the presentation
state must not grow with the pixels.

    python benchmarks/bench_annotate.py [--n 200] [--many 5000] [--workdir DIR] [--cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import figures, show

REPO = Path(__file__).resolve().parents[1]
BOX = (200, 180, 320, 300)  # inclusive x0, y0, x1, y1 on 512 x 512
WINDOW = (40.0, 400.0)

_clock = time.perf_counter


def make_series(root: Path, n: int, size: int) -> Path:
    """``n`` CT slices of ``size`` x ``size`` written by ``series`` from the CT template."""
    from dicom_rewrite.cli import main as cli

    y, x = np.mgrid[0:size, 0:size]
    vol = np.full((n, size, size), -1000, np.int16)
    vol[:, (y - size // 2) ** 2 + (x - size // 2) ** 2 < (size // 2 - 8) ** 2] = 40
    vol += (np.arange(n, dtype=np.int16) % 50)[:, None, None]
    np.save(root / f"ct{size}.npy", vol)
    out = root / f"series{size}"
    assert cli(["series", str(root / f"ct{size}.npy"), "--template", str(REPO / "templates" / "ct.dcm"),
                "--out", str(out)]) == 0
    return out


def predictions(paths: list[Path], path: Path) -> Path:
    """A COCO prediction list: one box per slice, keyed by Instance Number."""
    x0, y0, x1, y1 = BOX
    path.write_text(json.dumps([{"image_id": k, "category_id": 1, "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
                                 "score": 0.9} for k in range(1, len(paths) + 1)]))
    return path


def _window(ds, arr: np.ndarray) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 LINEAR, after the rescale."""
    c, w = WINDOW
    v = arr * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return np.clip(((v - (c - 0.5)) / (w - 1) + 0.5) * 255, 0, 255).astype(np.uint8)


def _draw(gray: np.ndarray) -> np.ndarray:
    rgb = np.repeat(gray[..., None], 3, axis=2)
    x0, y0, x1, y1 = BOX
    rgb[y0:y1 + 1, x0:x1 + 1] = (255, 0, 0)
    rgb[y0 + 2:y1 - 1, x0 + 2:x1 - 1] = np.repeat(gray[y0 + 2:y1 - 1, x0 + 2:x1 - 1, None], 3, axis=2)
    return rgb


def floor(paths: list[Path], out: Path) -> float:
    import pydicom

    out.mkdir(parents=True, exist_ok=True)
    t = _clock()
    for p in paths:
        ds = pydicom.dcmread(p)
        (out / (p.stem + ".raw")).write_bytes(_draw(_window(ds, ds.pixel_array)).tobytes())
    return _clock() - t


def seed(paths: list[Path], out: Path) -> float:
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    out.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    t = _clock()
    for p in paths:
        ds = pydicom.dcmread(p)
        rgb = _draw(_window(ds, ds.pixel_array))
        ds.PixelData = rgb.tobytes()
        ds.PhotometricInterpretation = "RGB"
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        for kw in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
            if kw in ds:
                del ds[kw]
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.BurnedInAnnotation = "YES"
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(out / (p.stem + ".dcm"), enforce_file_format=True)
    return _clock() - t


def ours(folder: Path, boxes: Path, out: Path) -> float:
    from dicom_rewrite.annotate import annotate_files

    t = _clock()
    for entry in annotate_files([folder], out, box_file=boxes, window=WINDOW, durable=False):
        assert entry["status"] == "ok", entry
    return _clock() - t


def peak_rss_child(folder: Path, boxes: Path, out: Path) -> int:
    """Peak RSS (kB) of a fresh process annotating ``folder`` with a GSPS."""
    code = (
        "from pathlib import Path;from dicom_rewrite.annotate import annotate_files;"
        f"[e for e in annotate_files([Path({str(folder)!r})],Path({str(out)!r}),"
        f"box_file=Path({str(boxes)!r}),window=(40,400),gsps=True,durable=False)];"
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(res.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--many", type=int, default=5000, help="small slices for the memory figure (0: skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    ap.add_argument("--cpu", action="store_true", help="CPU time of the process instead of wall time")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    global _clock
    _clock = time.process_time if args.cpu else time.perf_counter
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        folder = make_series(root, args.n, 512)
        paths = sorted(folder.glob("*.dcm"))
        boxes = predictions(paths, root / "preds.json")
        ours(folder, boxes, root / "warm")  # imports and caches
        t_floor = t_seed = t_ours = float("inf")
        for r in range(args.repeat):
            t_floor = min(t_floor, floor(paths, root / f"floor{r}"))
            t_seed = min(t_seed, seed(paths, root / f"seed{r}"))
            t_ours = min(t_ours, ours(folder, boxes, root / f"ours{r}"))
        rss_n = peak_rss_child(folder, boxes, root / "rss_n")
        result: dict[str, object] = {"clock": "cpu" if args.cpu else "wall", "n": args.n,
                                     **figures(args.n, t_floor, t_seed, t_ours),
                                     f"peak_rss_kB_{args.n}_512px_gsps": rss_n}
        result["seed_s"] = result.pop("naive_s")
        result["ours_vs_seed"] = result.pop("ours_vs_naive")
        if args.many:
            small = make_series(root, args.many, 64)
            many_boxes = root / "many.json"
            many_boxes.write_text(json.dumps([{"image_id": k, "category_id": 1, "bbox": [10, 10, 20, 20],
                                               "score": 0.9} for k in range(1, args.many + 1)]))
            result[f"peak_rss_kB_{args.many}_64px_gsps"] = peak_rss_child(small, many_boxes, root / "rss_many")
    show(result, args.json)


if __name__ == "__main__":
    main()
