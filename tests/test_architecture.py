"""Imports flow one way: the CLI is a thin layer nobody imports, errors
import nothing of ours, and each third-party boundary has one owner."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "dicom_rewrite"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


MODULES = {p.relative_to(PKG.parent).with_suffix("").as_posix().replace("/", "."): _imports(p)
           for p in PKG.rglob("*.py")}


def test_nothing_but_main_imports_the_cli():
    for mod, imports in MODULES.items():
        if mod.startswith("dicom_rewrite.cli") or mod == "dicom_rewrite.__main__":
            continue
        assert not any(i.startswith("dicom_rewrite.cli") for i in imports), mod


def test_errors_import_nothing_of_ours():
    assert not any(i.startswith("dicom_rewrite") for i in MODULES["dicom_rewrite.errors"])


def test_yaml_has_one_owner():
    owners = {m for m, imports in MODULES.items() if any(i.split(".")[0] == "yaml" for i in imports)}
    assert owners == {"dicom_rewrite.profile"}


def test_cli_modules_do_no_dicom_io():
    for mod, imports in MODULES.items():
        if mod.startswith("dicom_rewrite.cli.") and mod != "dicom_rewrite.cli.__init__":  # --version names pydicom
            assert "pydicom" not in {i.split(".")[0] for i in imports}, mod
