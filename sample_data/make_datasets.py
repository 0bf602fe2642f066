#!/usr/bin/env python3
"""Small synthetic look-alikes of three public chest X-ray datasets, with
their metadata tables, for ``convert --metadata`` (docs/metadata.md).

Usage::

    python sample_data/make_datasets.py OUTPUT_DIR [--nih N] [--size PIXELS]

writes

* ``OUTPUT_DIR/nih/images/00000001_000.png ...`` and
  ``OUTPUT_DIR/nih/Data_Entry_2017.csv``: NIH ChestX-ray14 style (Image
  Index, Finding Labels, Follow-up #, Patient ID, Patient Age, Patient
  Gender, View Position, OriginalImage[Width,Height],
  OriginalImagePixelSpacing[x,y], with the original's split header and
  trailing comma); N images (default 30), 1 to 4 follow-ups per patient;
* ``OUTPUT_DIR/chexpert/CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg ...``
  and ``.../CheXpert-v1.0-small/train.csv``: CheXpert style (Path relative
  to the dataset's parent folder, Sex, Age, Frontal/Lateral, AP/PA, labels);
* ``OUTPUT_DIR/mimic/files/p10/p10000032/s50414267/<dicom_id>.jpg ...`` and
  ``OUTPUT_DIR/mimic/mimic-cxr-2.0.0-metadata.csv``: MIMIC-CXR-JPG style
  (dicom_id, subject_id, study_id, ViewPosition, StudyDate, StudyTime, ...).

Every value is invented (no real patient); the images are tiny gray
gradients (``--size``, default 32 pixels), the same on every run.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

_FINDINGS = ("No Finding", "Cardiomegaly", "Effusion", "Atelectasis|Effusion", "Nodule", "Infiltration")
#: (width, height, spacing) of NIH originals, as the real table has them
_ORIGINALS = ((2682, 2749, 0.143), (2500, 2048, 0.168), (3056, 2544, 0.139))


def _image(seed: int, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return ((x * 7 + y * 3 + seed * 37) % 256).astype(np.uint8)


def make_nih(out: Path, n: int = 30, size: int = 32) -> Path:
    """The NIH-style folder; returns its CSV."""
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    patient, follow_up = 1, 0
    for k in range(n):
        if follow_up > patient % 4:  # patient p has (p % 4) + 1 follow-ups
            patient, follow_up = patient + 1, 0
        name = f"{patient:08d}_{follow_up:03d}.png"
        Image.fromarray(_image(k, size)).save(images / name)
        width, height, spacing = _ORIGINALS[patient % 3]
        rows.append([name, _FINDINGS[k % len(_FINDINGS)], follow_up, patient, 20 + (patient * 7) % 70,
                     "MF"[patient % 2], ("PA", "AP")[k % 2], width, height, spacing, spacing, ""])
        follow_up += 1
    table = out / "Data_Entry_2017.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        # the real header: "OriginalImage[Width,Height]" split into two columns, and a trailing comma
        f.write("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
                "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n")
        csv.writer(f, lineterminator="\n").writerows(rows)
    return table


def make_chexpert(out: Path, patients: int = 4, size: int = 32) -> Path:
    """The CheXpert-style tree; returns its train.csv."""
    root = out / "CheXpert-v1.0-small"
    rows = []
    k = 0
    for p in range(1, patients + 1):
        for study in range(1, 1 + (p % 2) + 1):
            for view, (kind, appa) in enumerate((("Frontal", "AP" if p % 2 else "PA"),
                                                 ("Lateral", ""))[: 1 + (study % 2)], 1):
                rel = f"train/patient{p:05d}/study{study}/view{view}_{kind.lower()}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(_image(k, size)).save(root / rel, quality=90)
                rows.append([f"CheXpert-v1.0-small/{rel}", ("Female", "Male")[p % 2], 30 + p * 11, kind, appa,
                             "1.0" if k % 3 == 0 else "", "" if k % 3 else "0.0", "1.0" if k % 3 == 1 else "-1.0"])
                k += 1
    table = root / "train.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", "Cardiomegaly", "Edema"])
        w.writerows(rows)
    return table


def make_mimic(out: Path, size: int = 32) -> Path:
    """The MIMIC-CXR-JPG-style tree; returns its metadata CSV."""
    studies = ((10000032, 50414267, "21800506", "213014.531", ("PA", "LATERAL")),
               (10000032, 53189527, "21800626", "165500.312", ("AP",)),
               (10000764, 57375967, "21321015", "80556.875", ("PA", "LL")))
    rows = []
    k = 0
    for subject, study, date, time, views in studies:
        folder = out / "files" / f"p{str(subject)[:2]}" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True, exist_ok=True)
        for view in views:
            dicom_id = f"{k + 1:08x}-{subject:08x}-{study:08x}-0000{k:04x}-{subject + study:08x}"
            Image.fromarray(_image(k, size)).save(folder / f"{dicom_id}.jpg", quality=90)
            meaning = {"PA": "postero-anterior", "AP": "antero-posterior"}.get(view, "lateral")
            rows.append([dicom_id, subject, study, "CHEST (PA AND LAT)", view, 3056, 2544, date, time,
                         "CHEST (PA AND LAT)", meaning, "Erect"])
            k += 1
    table = out / "mimic-cxr-2.0.0-metadata.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
                    "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"])
        w.writerows(rows)
    return table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--nih", type=int, default=30, metavar="N", help="NIH-style images (default 30)")
    ap.add_argument("--size", type=int, default=32, metavar="PIXELS", help="image size (default 32)")
    args = ap.parse_args(argv)
    make_nih(args.out / "nih", args.nih, args.size)
    make_chexpert(args.out / "chexpert", size=args.size)
    make_mimic(args.out / "mimic", size=args.size)


if __name__ == "__main__":
    main()
