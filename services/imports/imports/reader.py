"""Reading real-world CSV files: encodings, delimiters, quoting, messy headers.

Everything here is pure (bytes in, rows out) so the gateway-facing upload check
and the Celery workers read a file exactly the same way. A file that cannot be
read as CSV raises ``NotCsv`` with a reason a person can act on.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
MAX_FIELD = 131_072
MAX_COLUMNS = 500
DELIMITERS = (",", ";", "\t", "|")

_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx or .ods workbook?); save it as CSV first",
    b"\xd0\xcf\x11\xe0": "a legacy Excel .xls workbook; save it as CSV first",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}


class NotCsv(ValueError):
    """The file is not a CSV we can read; ``reason`` says why in plain words."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line


class TooManyRows(ValueError):
    def __init__(self, rows: int):
        super().__init__(f"the file has more than {MAX_ROWS} data rows")
        self.rows = rows


@dataclass
class ParsedRow:
    row: int            # 1-based data row number (blank lines not counted)
    line: int           # 1-based source line where the record starts
    cells: list[str]


@dataclass
class CsvFile:
    encoding: str
    delimiter: str
    headers: list[str]
    rows: list[ParsedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding used: UTF-8 (BOM stripped), UTF-16 by BOM, else Windows-1252, else Latin-1."""
    if not data.strip():
        raise NotCsv("the file is empty")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise NotCsv(f"the file is not CSV text: it is {what}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise NotCsv("the file starts with a UTF-16 marker but is not valid UTF-16") from exc
    if b"\x00" in data[:65536]:
        raise NotCsv("the file contains binary data (NUL bytes), not text")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise NotCsv(f"the file says it is UTF-8 but byte {exc.start + 3} is not valid UTF-8") from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if _has_utf8_sequences(data):
            # Mostly UTF-8 with broken bytes: reading it as Windows-1252 would store mojibake (RELIABILITY I5).
            line = data.count(b"\n", 0, exc.start) + 1
            raise NotCsv(f"the file is UTF-8 but byte {exc.start} (line {line}) is not valid UTF-8; "
                         "save it again as UTF-8", line) from exc
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _has_utf8_sequences(data: bytes) -> bool:
    """True when the bytes hold well-formed multi-byte UTF-8 characters (so the file meant to be UTF-8)."""
    text = data.decode("utf-8", errors="replace")
    return any(ord(ch) > 127 and ch != "\ufffd" for ch in text)


def _sample_rows(sample: str, delimiter: str) -> list[int]:
    counts = []
    try:
        for cells in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
            if any(c.strip() for c in cells):
                counts.append(len(cells))
            if len(counts) >= 30:
                break
    except csv.Error:
        return []
    if counts and len(counts) > 1 and "\n" in sample[-200:]:
        counts = counts[:-1] if len(counts) > 2 else counts   # the last sampled line may be cut off
    return counts


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most consistent number (>1) of columns."""
    sample = text[:65536]
    best, best_score = ",", (-1.0, 0)
    for delimiter in DELIMITERS:
        counts = _sample_rows(sample, delimiter)
        if not counts or counts[0] < 2:
            continue
        header = counts[0]
        consistent = sum(1 for c in counts if c == header) / len(counts)
        score = (consistent, header)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _clean_header(name: str, index: int) -> str:
    text = " ".join(name.replace("\ufeff", "").split())
    return text or f"Column {index + 1}"


def _records(text: str, delimiter: str, strict: bool) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=strict)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = str(exc)
            if "field larger than field limit" in message:
                raise NotCsv(f"a field starting near line {start} is longer than {MAX_FIELD} characters "
                             "(probably an unmatched quote)", start) from exc
            if "unexpected end of data" in message:
                raise NotCsv(f"a quoted field starting near line {start} is never closed (unmatched quote)",
                             start) from exc
            if "new-line character seen in unquoted field" in message:
                raise NotCsv("the file mixes line-ending styles inside a field", start) from exc
            raise _StrictError(message) from exc
        yield start, cells
        start = reader.line_num + 1


class _StrictError(Exception):
    pass


def parse(data: bytes, max_rows: int = MAX_ROWS) -> CsvFile:
    """Decode, sniff and split a file into header + data rows; raise NotCsv / TooManyRows."""
    if len(data) > MAX_BYTES:
        raise NotCsv(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    text, encoding = decode(data)
    delimiter = sniff_delimiter(text)
    csv.field_size_limit(MAX_FIELD)
    try:
        records = list(_bounded(_records(text, delimiter, strict=True), max_rows))
    except _StrictError:
        records = list(_bounded(_records(text, delimiter, strict=False), max_rows))
    records = [(line, cells) for line, cells in records if any(c.strip() for c in cells)]
    if not records:
        raise NotCsv("the file has no header row")
    header_line, header_cells = records[0]
    while header_cells and not header_cells[-1].strip():
        header_cells = header_cells[:-1]
    if len(header_cells) < 2:
        raise NotCsv("the first row has fewer than two columns: a CSV header such as "
                     "'Name,Email' is expected (is the delimiter , ; or TAB?)", header_line)
    if len(header_cells) > MAX_COLUMNS:
        raise NotCsv(f"the header has more than {MAX_COLUMNS} columns", header_line)
    result = CsvFile(encoding=encoding, delimiter=delimiter, headers=[])
    seen: dict[str, int] = {}
    for index, raw in enumerate(header_cells):
        name = _clean_header(raw, index)
        key = name.casefold()
        if key in seen:
            seen[key] += 1
            result.warnings.append(f"duplicate header '{name}' renamed to '{name} ({seen[key]})'")
            name = f"{name} ({seen[key]})"
        else:
            seen[key] = 1
        if not raw.strip():
            result.warnings.append(f"column {index + 1} has no header and is named '{name}'")
        result.headers.append(name)
    width = len(result.headers)
    for number, (line, cells) in enumerate(records[1:], start=1):
        while len(cells) > width and not cells[-1].strip():
            cells = cells[:-1]                      # trailing empty columns
        result.rows.append(ParsedRow(row=number, line=line, cells=cells))
    if not result.rows:
        raise NotCsv("the file has a header row but no data rows")
    return result


def _bounded(records: Iterator[tuple[int, list[str]]], max_rows: int) -> Iterator[tuple[int, list[str]]]:
    data_rows = -1          # the header is not a data row
    for line, cells in records:
        if any(c.strip() for c in cells):
            data_rows += 1
            if data_rows > max_rows:
                raise TooManyRows(data_rows)
        yield line, cells
