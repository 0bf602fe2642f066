"""Metadata manifests: a table beside the images (CSV, TSV, a JSON list of
objects, JSON Lines), one row per image, read once per batch.

Every row keeps the line it starts on, so an error names ``file:line``
(and the column: ``file:line:column``). Sizes are bounded: the file
(:data:`MAX_BYTES`), one field (:data:`MAX_FIELD`) and the number of rows
(:data:`MAX_ROWS`). A row is matched to an input by a key column
(:func:`match`): file names, stems, or paths relative to the input folder.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicom_rewrite.errors import ManifestError, escape_controls

#: the largest manifest read (NIH ChestX-ray14's CSV is 8 MB for 112,120 rows)
MAX_BYTES = 512 * 1024 * 1024
#: the longest field (a DICOM text value is at most 10240 characters, LT)
MAX_FIELD = 64 * 1024
#: the most rows a manifest may hold
MAX_ROWS = 5_000_000
#: the most columns
MAX_COLUMNS = 1000

#: the formats by suffix
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl",
            ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Row(Mapping[str, str]):
    """One row of a manifest: its values by column, and where it is."""

    file: str
    line: int
    cells: Mapping[str, str]
    #: column name -> 1-based column number (CSV/TSV) or position of the key (JSON)
    positions: Mapping[str, int] = field(default_factory=dict)

    def __getitem__(self, column: str) -> str:
        return self.cells[column]

    def __iter__(self) -> Iterator[str]:
        return iter(self.cells)

    def __len__(self) -> int:
        return len(self.cells)

    def where(self, column: str | None = None) -> str:
        """``file:line`` or ``file:line:column`` (the column's number)."""
        if column is not None and column in self.positions:
            return f"{self.file}:{self.line}:{self.positions[column]}"
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Manifest:
    """A manifest: its columns in order and its rows."""

    file: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]

    def error(self, line: int, msg: str) -> ManifestError:
        return ManifestError(f"{self.file}:{line}: {msg}")


def read_manifest(path: str | Path, name: str | None = None) -> Manifest:
    """Read a manifest (format by suffix: .csv, .tsv, .json, .jsonl);
    raise :class:`ManifestError` naming ``file:line`` on any problem."""
    p = Path(path)
    shown = escape_controls(name or str(path))
    kind = SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise ManifestError(f"{shown}: unknown manifest format {p.suffix!r} "
                            f"(use {', '.join(sorted(SUFFIXES))})")
    text = _read_text(p, shown)
    if kind in ("csv", "tsv"):
        columns, rows = _read_table(shown, text, "\t" if kind == "tsv" else ",")
    elif kind == "json":
        columns, rows = _read_json(shown, text)
    else:
        columns, rows = _read_jsonl(shown, text)
    if not rows:
        raise ManifestError(f"{shown}: no rows")
    return Manifest(shown, columns, tuple(rows))


def _read_text(p: Path, shown: str) -> str:
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise ManifestError(f"{shown}: {size} bytes; a manifest is at most {MAX_BYTES} bytes")
        data = p.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ManifestError(f"{shown}: is a folder; give a .csv, .tsv, .json or .jsonl file") from None
    except OSError as exc:
        raise ManifestError(f"{shown}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")  # a BOM (Excel's CSV) is not part of the first column
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ManifestError(f"{shown}:{line}: not UTF-8 text") from None


def _check_rows(shown: str, count: int, line: int) -> None:
    if count > MAX_ROWS:
        raise ManifestError(f"{shown}:{line}: more than {MAX_ROWS} rows")


def _check_field(shown: str, line: int, column: int, value: str) -> None:
    if len(value) > MAX_FIELD:
        raise ManifestError(f"{shown}:{line}:{column}: field of {len(value)} characters "
                            f"(at most {MAX_FIELD})")


# ----------------------------------------------------------------- tables

def _header(shown: str, names: list[str]) -> tuple[tuple[str, ...], list[int]]:
    """The column names (blank names of trailing separators dropped) and the
    0-based indexes of the columns kept."""
    if len(names) > MAX_COLUMNS:
        raise ManifestError(f"{shown}:1: {len(names)} columns (at most {MAX_COLUMNS})")
    kept: list[int] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(names):
        name = raw.strip()
        if not name:
            continue
        if name in seen:
            raise ManifestError(f"{shown}:1:{i + 1}: column {name!r} is given twice "
                                f"(first as column {seen[name] + 1})")
        seen[name] = i
        kept.append(i)
    if not kept:
        raise ManifestError(f"{shown}:1: no column names in the first line")
    return tuple(names[i].strip() for i in kept), kept


def _read_table(shown: str, text: str, delimiter: str) -> tuple[tuple[str, ...], list[Row]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    old_limit = csv.field_size_limit(MAX_FIELD)
    try:
        return _table_rows(shown, reader)
    except csv.Error as exc:
        raise ManifestError(f"{shown}:{reader.line_num}: not valid {'TSV' if delimiter == chr(9) else 'CSV'} "
                            f"({exc})") from None
    finally:
        csv.field_size_limit(old_limit)


def _table_rows(shown: str, reader: Any) -> tuple[tuple[str, ...], list[Row]]:
    first = next(reader, None)
    if first is None:
        raise ManifestError(f"{shown}: empty")
    columns, kept = _header(shown, first)
    positions = {c: i + 1 for c, i in zip(columns, kept, strict=True)}
    rows: list[Row] = []
    start = reader.line_num + 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if not any(v.strip() for v in record):
            continue  # a blank line
        if len(record) > len(first) and any(v.strip() for v in record[len(first):]):
            raise ManifestError(f"{shown}:{line}: {len(record)} fields, but the header has {len(first)}")
        values = {c: (record[i] if i < len(record) else "") for c, i in zip(columns, kept, strict=True)}
        rows.append(Row(shown, line, values, positions))
        _check_rows(shown, len(rows), line)
    return columns, rows


# ------------------------------------------------------------------- JSON

def _scalar(shown: str, line: int, key: str, value: Any) -> str:
    """A JSON value as text: strings as they are, numbers as written,
    true/false, null as empty."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = json.dumps(value)
    else:
        raise ManifestError(f"{shown}:{line}: {key!r}: a value is text, a number, true/false or null "
                            "(not a list or object)")
    _check_field(shown, line, 0, text)
    return text


class _Columns:
    """The columns of a JSON manifest, in order of first appearance."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.order: dict[str, int] = {}

    def row(self, obj: Any, line: int) -> Row:
        if not isinstance(obj, dict):
            raise ManifestError(f"{self.shown}:{line}: each row is a JSON object "
                                "({\"column\": value, ...})")
        values = {}
        for key, value in obj.items():
            if key not in self.order:
                if len(self.order) >= MAX_COLUMNS:
                    raise ManifestError(f"{self.shown}:{line}: more than {MAX_COLUMNS} columns")
                self.order[key] = len(self.order) + 1
            values[key] = _scalar(self.shown, line, key, value)
        return Row(self.shown, line, values, self.order)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.order)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _decode_error(shown: str, exc: json.JSONDecodeError, line: int = 0) -> ManifestError:
    return ManifestError(f"{shown}:{line or exc.lineno}: not valid JSON ({exc.msg})")


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _read_json(shown: str, text: str) -> tuple[tuple[str, ...], list[Row]]:
    """A JSON list of objects, decoded one object at a time so that each
    row knows its line."""
    decoder = json.JSONDecoder()
    cols = _Columns(shown)
    rows: list[Row] = []
    i = _skip_space(text, 0)
    if i >= len(text) or text[i] != "[":
        raise ManifestError(f"{shown}:{_line_of(text, i)}: a JSON manifest is a list of objects "
                            "([{\"column\": value, ...}, ...])")
    i = _skip_space(text, i + 1)
    while i < len(text) and text[i] != "]":
        line = _line_of(text, i)
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise _decode_error(shown, exc) from None
        except RecursionError:
            raise ManifestError(f"{shown}:{line}: nested too deeply") from None
        rows.append(cols.row(obj, line))
        _check_rows(shown, len(rows), line)
        i = _skip_space(text, i)
        if i < len(text) and text[i] == ",":
            i = _skip_space(text, i + 1)
        elif i < len(text) and text[i] != "]":
            raise ManifestError(f"{shown}:{_line_of(text, i)}: not valid JSON (expected , or ])")
    if i >= len(text) or _skip_space(text, i + 1) != len(text):
        raise ManifestError(f"{shown}:{_line_of(text, i)}: not valid JSON (the list is not closed, "
                            "or text follows it)")
    return cols.columns, rows


def _read_jsonl(shown: str, text: str) -> tuple[tuple[str, ...], list[Row]]:
    cols = _Columns(shown)
    rows: list[Row] = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _decode_error(shown, exc, n) from None
        except RecursionError:
            raise ManifestError(f"{shown}:{n}: nested too deeply") from None
        rows.append(cols.row(obj, n))
        _check_rows(shown, len(rows), n)
    return cols.columns, rows


# --------------------------------------------------------------- matching

@dataclass
class Matched:
    """The rows of a manifest matched to inputs (by the inputs' ids)."""

    manifest: Manifest
    key: str
    rows: dict[str, Row]
    #: inputs without a row, and rows without an input
    missing: list[str]
    unused: list[Row]


def _norm(value: str) -> str:
    """A name or relative path as compared: ``/`` separators, no ``.`` or
    empty components (what :class:`PurePosixPath` would print, cheaper)."""
    text = value.strip().replace("\\", "/")
    if "/" not in text:
        return text
    parts = [p for p in text.split("/") if p not in ("", ".")]
    return ("/" if text.startswith("/") else "") + "/".join(parts)


def _stem(name: str) -> str:
    head, dot, _suffix = name.rpartition(".")
    return head if dot and head else name


class _Index:
    """Input ids by the names a row may use for them; a name two inputs
    share names neither."""

    def __init__(self, inputs: Iterable[tuple[str, Sequence[str]]]) -> None:
        self.by_name: dict[str, str | None] = {}
        self.by_path: dict[str, str | None] = {}
        for ident, keys in inputs:
            for k in keys:
                table = self.by_path if "/" in _norm(k) else self.by_name
                self._add(table, _norm(k), ident)
                stem = _stem(_norm(k))
                if table is self.by_name and stem:
                    self._add(self.by_name, stem, ident)

    @staticmethod
    def _add(table: dict[str, str | None], k: str, ident: str) -> None:
        if k in table and table[k] != ident:
            table[k] = None  # ambiguous
        else:
            table[k] = ident

    def find(self, value: str) -> tuple[str | None, bool]:
        """The input a key value names, and whether it named several."""
        v = _norm(value)
        if not value.strip():
            return None, False
        if "/" not in v:
            hit = self.by_name.get(v, "")
            return (hit or None), hit is None
        parts = v.split("/")
        # a path: relative to the input folder, or with leading folders the
        # inputs were not given under (CheXpert-v1.0/train/patient1/...)
        for k in range(len(parts) - 1):
            hit = self.by_path.get("/".join(parts[k:]), "")
            if hit is None:
                return None, True
            if hit:
                return hit, False
        return None, False


def _guess_key(manifest: Manifest, index: _Index) -> str:
    for column in manifest.columns:
        if any(index.find(row.cells.get(column, ""))[0] for row in manifest.rows):
            return column
    shown = ", ".join(repr(c) for c in manifest.columns[:12])
    raise ManifestError(f"{manifest.file}: no column matches the input file names or paths "
                        f"(columns: {shown}); give --metadata-key COLUMN")


def match(manifest: Manifest, inputs: Sequence[tuple[str, Sequence[str]]],
          key: str | None = None) -> Matched:
    """Match each row to one input by the ``key`` column (None: the first
    column whose values name inputs). ``inputs``: (id, names it may be
    known by: file name, path relative to its input folder, path as given).
    Duplicate keys and keys naming several inputs are errors."""
    index = _Index(inputs)
    if key is None:
        key = _guess_key(manifest, index)
    elif key not in manifest.columns:
        raise manifest.error(1, f"no column {key!r} (--metadata-key); columns: "
                             + ", ".join(repr(c) for c in manifest.columns[:12]))
    rows: dict[str, Row] = {}
    seen: dict[str, Row] = {}
    unused: list[Row] = []
    for row in manifest.rows:
        value = row.cells.get(key, "")
        first = seen.get(_norm(value))
        if first is not None:
            raise ManifestError(f"{row.where(key)}: key {value!r} is given twice "
                                f"(first at line {first.line})")
        seen[_norm(value)] = row
        ident, ambiguous = index.find(value)
        if ambiguous:
            raise ManifestError(f"{row.where(key)}: {value!r} names several inputs; use a column of "
                                "paths relative to the input folder (--metadata-key)")
        if ident is None:
            unused.append(row)
        elif ident in rows:
            raise ManifestError(f"{row.where(key)}: {value!r} names the same input as line "
                                f"{rows[ident].line}")
        else:
            rows[ident] = row
    missing = [ident for ident, _keys in inputs if ident not in rows]
    return Matched(manifest, key, rows, missing, unused)
