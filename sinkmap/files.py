"""Small file helpers every layer uses: atomic publication, checksums, user CSV tables.

A file appears under its final name only once it is complete (:func:`atomic_path` writes a
temporary sibling and renames it with ``os.replace``), so a failed or killed step never leaves a
half-written output behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sinkmap.errors import ConfigError, InputDataError, OutputError

log = logging.getLogger("sinkmap")

#: Reproducible builds (reproducible-builds.org/specs/source-date-epoch): when this variable holds
#: seconds since 1970-01-01 UTC, every timestamp sinkmap writes (the tables' ``computed_at``, the
#: report's date, the GeoPackages' ``last_change``) is that time, so two runs of the same inputs
#: and config give the same bytes.
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def build_time() -> dt.datetime:
    """The time a run stamps on its outputs: ``SOURCE_DATE_EPOCH`` when set, else now (UTC)."""
    value = os.environ.get(SOURCE_DATE_EPOCH, "").strip()
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise ConfigError(
            f"{SOURCE_DATE_EPOCH}={value!r} is not a whole number of seconds since 1970-01-01 "
            f"UTC; unset it, or set e.g. {SOURCE_DATE_EPOCH}=$(git log -1 --format=%ct)"
        ) from None


def build_timestamp() -> str:
    """:func:`build_time` as GeoPackage and SQLite write it: ``2026-01-01T00:00:00.000Z``."""
    return build_time().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@contextlib.contextmanager
def gdal_build_time() -> Iterator[None]:
    """GDAL's GeoPackage writer (through pyogrio) stamps :func:`build_time` on ``last_change``
    while the block runs, when ``SOURCE_DATE_EPOCH`` is set (GDAL's ``OGR_CURRENT_DATE``)."""
    import pyogrio

    if not os.environ.get(SOURCE_DATE_EPOCH, "").strip():
        yield
        return
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": build_timestamp()})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def sha256_file(path: str | Path, *, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in blocks (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"{path} was not written; see the log of this step")
        os.replace(tmp, path)
    finally:
        unlink(tmp)


def plain_name(name: str, what: str) -> str:
    """``name`` if it is one file or folder name, else a :class:`ConfigError`: a name with a path
    separator or ``..`` would read or write outside its folder (a dataset version, a file pattern
    of the dataset registry, ...)."""
    text = str(name)
    if not text or text in (".", "..") or any(c in text for c in ("/", "\\", "\x00")):
        raise ConfigError(
            f"{what} {text!r} is not a plain file or folder name: it must not be empty, '.' or "
            "'..', nor contain '/' or '\\' (it would reach outside its folder); give a name "
            "without them"
        )
    return text


def inside(path: Path, folder: Path, what: str) -> Path:
    """``path`` if it lies inside ``folder`` once ``..`` is collapsed (symbolic links are not
    followed), else a :class:`ConfigError` naming both."""
    # lexically (".." collapsed, links not followed): a folder of links to a shared drive is fine
    resolved = Path(os.path.normpath(os.path.abspath(path)))
    root = Path(os.path.normpath(os.path.abspath(folder)))
    if not resolved.is_relative_to(root):
        raise ConfigError(
            f"{what} {path} lies outside its folder {root}; fix the pattern or path so it stays "
            "inside (no '..')"
        )
    return Path(path)


#: What the temporaries of an output are called besides it: ``.<name>.<8 hex>.<kind>``.
TEMPORARY_KINDS = ("part", "stage.tif", "cog.tif", "blocks")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporaries an earlier, killed job left beside ``path`` (a ``kill -9`` runs no
    cleanup). Safe at the start of the job that makes ``path``: Snakemake runs one job per output
    at a time. Returns what was removed."""
    path = Path(path)
    gone = []
    for kind in TEMPORARY_KINDS:
        # a part file's own side files too: SQLite's -journal, -wal and -shm of a GeoPackage
        suffix = f"{kind}{glob.escape(path.suffix)}*" if kind == "part" else kind
        for tmp in path.parent.glob(f".{glob.escape(path.name)}.{'[0-9a-f]' * 8}.{suffix}"):
            if tmp.is_dir():  # the block files of a layer computed on a Dask cluster
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                unlink(tmp)
            gone.append(tmp)
    if gone:
        log.info("removed %d temporary file(s) of an interrupted run beside %s", len(gone), path)
    return gone


def unlink(path: Path) -> None:
    """Remove ``path`` and the GDAL sidecars of it (overviews, aux.xml), if they exist."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    for sidecar in (path.with_name(path.name + ".aux.xml"), path.with_name(path.name + ".ovr")):
        with contextlib.suppress(FileNotFoundError):
            sidecar.unlink()


def write_text(text: str, out: str | Path) -> Path:
    """Publish a UTF-8 text file atomically."""
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def write_json(data: Any, out: str | Path) -> Path:
    """Publish ``data`` as indented JSON (with a final newline) atomically."""
    return write_text(json.dumps(data, indent=2) + "\n", out)


def write_csv(df: Any, out: str | Path) -> Path:
    """Publish a table as CSV (UTF-8, 6 decimals) atomically: complete under ``out``, or absent."""
    out = Path(out)
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    return out


def read_yaml(text: str) -> Any:
    """Parse YAML safely (no tags that build Python objects), with libyaml when it is there:
    about ten times faster than the pure-Python parser on the dataset registry."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)


class CsvColumns(dict[str, list[str]]):
    """A CSV table's columns (:func:`read_csv_table`): name → cells as text, with ``lines``, the
    file's line number of each row (blank lines and cells spanning lines counted), for messages."""

    def __init__(self, columns: dict[str, list[str]], lines: list[int]) -> None:
        super().__init__(columns)
        self.lines = lines


def read_csv_table(path: str | Path, what: str, *, missing_hint: str = "") -> CsvColumns:
    """Read a user CSV table as its columns: each header name (stripped, lower-cased; a blank one
    is ``unnamed: i``) to its cells as text, ``""`` where a row is short. Blank lines are skipped,
    as spreadsheets leave them, and spaces after a comma. A missing, unreadable or ragged file,
    an unclosed quote, a repeated column or a file separated by semicolons or tabs is an
    :class:`InputDataError` naming ``what`` (e.g. "carbon pool table"), the line and the fix.

    The standard library's :mod:`csv`, not pandas: the pool table of ``sinkmap stock`` is read
    without paying pandas' 0.2 s import (bench/README.md, "sinkmap stock")."""
    import csv

    path = Path(path)
    if not path.exists():
        raise InputDataError(
            f"{what} {path} does not exist{'; ' + missing_hint if missing_hint else ''}"
        )
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            # strict: an unclosed quote is an error, not a cell running to the end of the file
            reader = csv.reader(f, strict=True, skipinitialspace=True)
            start = 1
            for row in reader:
                if row and (len(row) > 1 or row[0].strip()):
                    rows.append(row)
                    lines.append(start)
                start = reader.line_num + 1
    except (UnicodeDecodeError, csv.Error) as exc:
        where = f" (line {reader.line_num})" if isinstance(exc, csv.Error) else ""
        raise InputDataError(
            f"{what} {path} is not a readable CSV{where}: {exc}; save it as UTF-8 CSV, each "
            'quote closed ("a, b")'
        ) from exc
    if not rows:
        raise InputDataError(
            f"{what} {path} is empty; save it as UTF-8 CSV with a header line of column names"
        )
    header = [c.strip().lower() or f"unnamed: {i}" for i, c in enumerate(rows[0])]
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in header[0]:
                raise InputDataError(
                    f"{what} {path} is separated by {name}, not commas; save it as CSV (comma "
                    "delimited) with '.' as the decimal mark"
                )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise InputDataError(f"{what} {path} repeats column(s) {repeated}; keep one of each")
    for row, line in zip(rows[1:], lines[1:], strict=True):
        if len(row) > len(header):
            raise InputDataError(
                f"{what} {path}: line {line} has {len(row)} fields, the header {len(header)}; "
                "quote a value that holds a comma, or name the extra column in the header"
            )
    return CsvColumns(
        {c: [r[j] if j < len(r) else "" for r in rows[1:]] for j, c in enumerate(header)},
        lines[1:],
    )
