"""Finding and reading data sets: local paths, ``file://`` and object stores through pyarrow.

Formats: Parquet, CSV, JSON Lines and JSON (an array of records, or JSON Lines under a
``.json`` name), compressed (``.gz``, ``.bz2``, ``.zst``, ``.lz4``) or not; a folder is read
as a data set of such files (names starting with ``.`` or ``_`` are ignored). Remote URIs
(``s3://``, ``gs://``, ``abfss://``, ``hdfs://``) go through ``pyarrow.fs``, ``https://`` files are
downloaded first (:mod:`mlspec.runtime.http_data`); database and
warehouse URIs cannot be read as files (MS605 with a hint to pass ``--file``).
"""

from __future__ import annotations

import json
import os
import posixpath
import stat as stat_mod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec import diagnostics as dx
from mlspec.language.types import CHECKABLE_FORMATS, CHECKABLE_SCHEMES, FORMAT_OF_EXTENSION
from mlspec.runtime.common import Failure

# One table of what the readers check, shared with the language's compile-time rule (MS340).
EXT_FORMATS = {k: v for k, v in FORMAT_OF_EXTENSION.items() if v in CHECKABLE_FORMATS}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
READABLE = CHECKABLE_FORMATS
FILE_SCHEMES = CHECKABLE_SCHEMES
# Cells read as null in CSV files.
CSV_NULLS = ["", "NA", "N/A", "NULL", "null", "NaN", "nan"]


@dataclass
class Location:
    display: str                       # as the user wrote it (relative path or URI)
    path: str                          # local path, or the path inside ``fs``
    fs: Any = None                     # pyarrow FileSystem for remote data; None for local
    declared: str | None = None        # the source's declared format
    prefer_declared: bool = True       # the source's own URI: its declared format wins

    @property
    def local(self) -> bool:
        return self.fs is None


def locate(uri: str, base: Path, *, declared: str | None = None, prefer_declared: bool = True,
           display: str | None = None, pin: str | None = None) -> Location:
    """Where data is. Relative paths are joined to ``base``; remote URIs need pyarrow; ``https://``
    data is downloaded (checked against ``pin`` when it is ``sha256:<hex>``)."""
    from mlspec.language.types import uri_scheme

    shown = display or uri
    scheme = uri_scheme(uri)
    if scheme is None or scheme == "file":
        raw = uri[len("file://"):] if scheme == "file" else uri
        p = Path(raw)
        return Location(shown, str(p if p.is_absolute() else base / p), None, declared, prefer_declared)
    if scheme in ("http", "https"):
        from mlspec.runtime.http_data import download

        return Location(shown, str(download(uri, base, shown, pin)), None, declared, prefer_declared)
    if scheme not in FILE_SCHEMES:
        raise Failure(dx.DATA_UNREADABLE, f"cannot read {shown}: {scheme}:// is not a file store",
                      file=shown, hint="export the data to Parquet/CSV/JSONL and pass it with --file")
    from mlspec.runtime.common import require

    require("pyarrow", command="read remote data")
    import pyarrow.fs as pafs

    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, …
        raise Failure(dx.DATA_UNREADABLE, f"cannot open {shown}: {_first_line(exc)}", file=shown,
                      hint="pyarrow's filesystem support for this scheme (and its credentials) is "
                           "needed, or pass a local copy with --file") from None
    return Location(shown, path, fs, declared, prefer_declared)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def format_of(name: str) -> str | None:
    base = name.rstrip("/").lower()
    for c in COMPRESSIONS:
        base = base.removesuffix(c)
    return EXT_FORMATS.get(posixpath.splitext(base)[1])


def _decide_format(loc: Location, name: str) -> str:
    found = format_of(name)
    fmt = (loc.declared or found) if loc.prefer_declared else (found or loc.declared)
    if fmt is None:
        raise Failure(dx.DATA_UNREADABLE, f"cannot tell the format of {loc.display}",
                      file=loc.display, hint="give the source a `format:` or use a .parquet/.csv/.jsonl/.json name")
    if fmt not in READABLE:
        raise Failure(dx.DATA_UNREADABLE, f"cannot read {loc.display}: format '{fmt}' is not supported "
                      f"(supported: {', '.join(READABLE)})", file=loc.display,
                      hint="export the data to Parquet and pass it with --file")
    return fmt


# ------------------------------------------------------------------ modification times


def _walk_newest(root: str) -> float | None:
    newest = None
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith((".", "_")):
                    continue
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file():
                    m = e.stat().st_mtime
                    newest = m if newest is None or m > newest else newest
    return newest


def newest_mtime(loc: Location) -> float | None:
    """Modification time of the file, or of the newest file below a folder; None when empty."""
    if loc.local:
        try:
            st = os.stat(loc.path)
            if stat_mod.S_ISDIR(st.st_mode):
                return _walk_newest(loc.path)
            return st.st_mtime
        except FileNotFoundError:
            raise Failure(dx.DATA_UNREADABLE, f"{loc.display} does not exist", file=loc.display) from None
        except OSError as exc:
            raise Failure(dx.DATA_UNREADABLE, f"cannot read {loc.display}: {exc.strerror or exc}",
                          file=loc.display) from None
    import pyarrow.fs as pafs

    try:
        info = loc.fs.get_file_info(loc.path)
        if info.type == pafs.FileType.NotFound:
            raise Failure(dx.DATA_UNREADABLE, f"{loc.display} does not exist", file=loc.display)
        if info.type == pafs.FileType.Directory:
            infos = loc.fs.get_file_info(pafs.FileSelector(loc.path, recursive=True))
            times = [i.mtime.timestamp() for i in infos if i.type == pafs.FileType.File and i.mtime is not None
                     and not posixpath.basename(i.path).startswith((".", "_"))]
            return max(times, default=None)
        return info.mtime.timestamp() if info.mtime is not None else None
    except Failure:
        raise
    except Exception as exc:  # noqa: BLE001
        raise Failure(dx.DATA_UNREADABLE, f"cannot read {loc.display}: {_first_line(exc)}", file=loc.display) from None


# ------------------------------------------------------------------ reading tables


def read_table(loc: Location, *, columns: list[str] | None = None, string_columns: tuple[str, ...] = ()) -> Any:
    """A ``pyarrow.Table``. ``columns``: read only those of these that exist (the caller
    compares to find missing ones). ``string_columns``: CSV columns kept as text."""
    import pyarrow as pa

    try:
        if loc.local:
            if not os.path.exists(loc.path):
                raise Failure(dx.DATA_UNREADABLE, f"{loc.display} does not exist", file=loc.display)
            is_dir = os.path.isdir(loc.path)
        else:
            import pyarrow.fs as pafs

            info = loc.fs.get_file_info(loc.path)
            if info.type == pafs.FileType.NotFound:
                raise Failure(dx.DATA_UNREADABLE, f"{loc.display} does not exist", file=loc.display)
            is_dir = info.type == pafs.FileType.Directory
        if is_dir:
            return _read_dataset(loc, columns, string_columns)
        fmt = _decide_format(loc, loc.path)
        return _read_file(loc, fmt, columns, string_columns)
    except Failure:
        raise
    except (pa.ArrowException, OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Failure(dx.DATA_UNREADABLE, f"cannot read {loc.display}: {_first_line(exc)}", file=loc.display) from None


def _csv_options(path: str, string_columns: tuple[str, ...]) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    delimiter = "\t" if format_of(path) == "csv" and ".tsv" in path.lower() else ","
    parse = pcsv.ParseOptions(delimiter=delimiter)
    convert = pcsv.ConvertOptions(
        column_types={c: pa.string() for c in string_columns}, null_values=CSV_NULLS,
        strings_can_be_null=True,
        true_values=["true", "True", "TRUE"], false_values=["false", "False", "FALSE"])
    return parse, convert


def _read_file(loc: Location, fmt: str, columns: list[str] | None, string_columns: tuple[str, ...]) -> Any:
    return _distinct_columns(_read_one(loc, fmt, columns, string_columns), loc)


def _distinct_columns(table: Any, loc: Location) -> Any:
    _distinct_names(table.column_names, loc)
    return table


def _distinct_names(names: list[str], loc: Location) -> None:
    """CSV headers (and Parquet files written by other tools) may name a column twice;
    every lookup by name would then be ambiguous."""
    if len(set(names)) != len(names):
        from collections import Counter

        twice = sorted(n for n, k in Counter(names).items() if k > 1)
        shown = ", ".join(repr(n)[:60] for n in twice[:5])
        raise Failure(dx.DATA_UNREADABLE, f"cannot read {loc.display}: the column name{'s' if len(twice) > 1 else ''} "
                      f"{shown} appear{'' if len(twice) > 1 else 's'} more than once", file=loc.display,
                      hint="give every column a distinct name")


def _read_one(loc: Location, fmt: str, columns: list[str] | None, string_columns: tuple[str, ...]) -> Any:
    import pyarrow.parquet as pq

    if loc.local:
        with open_data_file(loc) as fh:
            if fmt == "parquet":
                names = pq.read_schema(fh).names
                fh.seek(0)
                _distinct_names(names, loc)
                if columns is not None:
                    columns = [c for c in columns if c in names]
                return pq.read_table(fh, columns=columns)
            return _read_stream(_decompressed(fh, loc.path), loc, fmt, columns, string_columns)
    if fmt == "parquet":
        names = pq.read_schema(loc.path, filesystem=loc.fs).names
        _distinct_names(names, loc)
        if columns is not None:
            columns = [c for c in columns if c in names]
        return pq.read_table(loc.path, columns=columns, filesystem=loc.fs)
    return _read_stream(_open_stream(loc), loc, fmt, columns, string_columns)


MAX_DATA_BYTES_ENV = "MLSPEC_MAX_DATA_BYTES"
DEFAULT_MAX_DATA_BYTES = 16 << 30
_CODECS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}


def open_data_file(loc: Location) -> Any:
    """A local data file through the bounded reader: a regular file (a FIFO or device in a
    data folder is refused, not read forever) no larger than ``$MLSPEC_MAX_DATA_BYTES``."""
    from mlspec.bounded import ReadRefused, open_regular

    try:
        limit = int(os.environ.get(MAX_DATA_BYTES_ENV) or DEFAULT_MAX_DATA_BYTES)
    except ValueError:
        limit = DEFAULT_MAX_DATA_BYTES
    try:
        fh = open_regular(loc.path)
    except ReadRefused as exc:
        raise Failure(dx.DATA_UNREADABLE, f"{loc.display} {exc.reason}", file=loc.display) from None
    size = os.fstat(fh.fileno()).st_size
    if size > limit:
        fh.close()
        raise Failure(dx.DATA_UNREADABLE, f"{loc.display} is larger than the {limit} byte limit ({size} bytes)",
                      file=loc.display, hint=f"raise it with {MAX_DATA_BYTES_ENV}, or check a sample")
    return fh


def _decompressed(fh: Any, path: str) -> Any:
    import pyarrow as pa

    codec = _CODECS.get(os.path.splitext(path.lower())[1])
    return pa.CompressedInputStream(pa.PythonFile(fh, mode="r"), codec) if codec else pa.PythonFile(fh, mode="r")


def _read_stream(source: Any, loc: Location, fmt: str, columns: list[str] | None,
                 string_columns: tuple[str, ...]) -> Any:
    try:
        if fmt == "csv":
            import pyarrow.csv as pcsv

            parse, convert = _csv_options(loc.path, string_columns)
            table = pcsv.read_csv(source, parse_options=parse, convert_options=convert)
        elif fmt == "jsonl":
            table = _read_jsonl(source, loc)
        else:
            table = _read_json(source, loc)
    finally:
        if hasattr(source, "close"):
            source.close()
    return _select(_distinct_columns(table, loc), columns)


def _select(table: Any, columns: list[str] | None) -> Any:
    if columns is None:
        return table
    names = set(table.column_names)
    return table.select([c for c in columns if c in names])


def _open_stream(loc: Location) -> Any:
    import pyarrow.fs as pafs

    fs = loc.fs or pafs.LocalFileSystem()
    return fs.open_input_stream(loc.path, compression="detect")


def _read_jsonl(stream: Any, loc: Location) -> Any:
    import pyarrow as pa
    import pyarrow.json as pjson

    data = stream.read()
    try:
        return pjson.read_json(pa.BufferReader(data))
    except pa.ArrowInvalid:
        # Mixed types in a column (a number here, a string there): parse in Python and keep
        # such columns as text, so the contract counts each bad value instead of failing.
        records = []
        for i, line in enumerate(bytes(data).decode("utf-8-sig").splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise Failure(dx.DATA_UNREADABLE, f"cannot read {loc.display}: line {i} is not JSON "
                                  f"({exc.msg})", file=loc.display) from None
        return records_table(records, loc)


def _read_json(stream: Any, loc: Location) -> Any:
    import pyarrow as pa

    data = bytes(stream.read())
    text = data.decode("utf-8-sig")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Failure(dx.DATA_UNREADABLE, f"cannot read {loc.display}: not JSON ({exc.msg}, line "
                          f"{exc.lineno})", file=loc.display) from None
        return records_table(records, loc)
    return _read_jsonl(pa.BufferReader(data), loc)


def records_table(records: Any, loc: Location) -> Any:
    """A table from a list of JSON objects; a column of mixed types becomes text."""
    import pyarrow as pa

    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise Failure(dx.DATA_UNREADABLE, f"cannot read {loc.display}: expected JSON objects, one per "
                      f"record", file=loc.display)
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r))
    arrays = []
    for name in names:
        values = [r.get(name) for r in records]
        try:
            arr = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            arr = pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pa.string())
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(names)) if names else pa.table({})


def _read_dataset(loc: Location, columns: list[str] | None, string_columns: tuple[str, ...]) -> Any:
    """Every data file below the folder, read one by one and stacked.

    Files may disagree on a column's type (CSV inference sees only its own file): numbers
    become float64, anything else text, so the contract still judges every value.
    """
    files = _dataset_files(loc)
    if not files:
        raise Failure(dx.DATA_UNREADABLE, f"{loc.display} holds no data files", file=loc.display)
    fmt = loc.declared
    if fmt is None:
        found = {format_of(f) for f in files} - {None}
        if len(found) != 1:
            raise Failure(dx.DATA_UNREADABLE, f"cannot tell the format of the files in {loc.display}",
                          file=loc.display, hint="give the source a `format:`")
        fmt = found.pop()
    files = [f for f in files if format_of(f) in (fmt, None) or (fmt == "json" and format_of(f) == "jsonl")]
    tables = []
    for f in files:
        part = Location(f"{loc.display.rstrip('/')}/{posixpath.relpath(f, loc.path)}", f, loc.fs, fmt, True)
        tables.append(_read_file(part, _decide_format(part, f), columns, string_columns))
    return concat(tables)


def concat(tables: list[Any]) -> Any:
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    names: dict[str, None] = {}
    for t in tables:
        names.update(dict.fromkeys(t.column_names))
    for name in names:
        types = {t.schema.field(name).type for t in tables if name in t.column_names} - {pa.null()}
        if len(types) > 1:
            numeric = all(pa.types.is_integer(x) or pa.types.is_floating(x) for x in types)
            target = pa.float64() if numeric else pa.string()
            tables = [_cast_column(t, name, target) for t in tables]
    return pa.concat_tables(tables, promote_options="default")


def _cast_column(table: Any, name: str, target: Any) -> Any:
    import pyarrow.compute as pc

    if name not in table.column_names:
        return table
    i = table.column_names.index(name)
    return table.set_column(i, name, pc.cast(table.column(name), target))


def _dataset_files(loc: Location) -> list[str]:
    """Data files below the folder (full paths, sorted); names starting with . or _ skipped."""
    if loc.local:
        out = []
        for folder, dirs, files in os.walk(loc.path):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
            out += [os.path.join(folder, f) for f in files if not f.startswith((".", "_"))]
        return sorted(out)
    import pyarrow.fs as pafs

    infos = loc.fs.get_file_info(pafs.FileSelector(loc.path, recursive=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File
                  and not any(part.startswith((".", "_")) for part in posixpath.relpath(i.path, loc.path).split("/")))
