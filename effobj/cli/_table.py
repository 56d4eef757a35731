"""Reading a CSV of models and printing rows as a table, CSV or JSON (no pandas needed)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from effobj.errors import FileFormatError

__all__ = ["read_models", "render"]


#: the longest CSV cell read (Python's csv module refuses longer ones with csv.Error)
MAX_CELL = 1 << 20


def read_models(
    path: str | Path, *, name_col: str, numeric_cols: Sequence[str], low: float | None = None
) -> tuple[list[str], dict[str, list[float]]]:
    """Read ``name_col`` and the numeric columns of a CSV file.

    Returns:
        ``(names, {column: values})``.

    Raises:
        FileFormatError: the file is missing or empty, lacks a column, or a cell is not a
            finite number (or is below ``low``); the message names the file, line and
            column.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileFormatError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{p}: cannot be read as UTF-8 text ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    old_limit = csv.field_size_limit(MAX_CELL)
    try:
        rows = list(reader)
        # line numbers count non-blank lines as csv sees them; recompute from the raw text
        line_of = _line_numbers(text)
    except csv.Error as exc:
        raise FileFormatError(f"{p}, line {reader.line_num}: not valid CSV ({exc})") from None
    finally:
        csv.field_size_limit(old_limit)
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise FileFormatError(f"{p}: the file is empty; expected a header line with columns "
                              f"{[name_col, *numeric_cols]}")
    header = [h.strip() for h in rows[0]]
    wanted = [name_col, *numeric_cols]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise FileFormatError(
            f"{p}, line 1: missing column(s) {missing}; the header has {header}. "
            "Choose other columns with --name-col/--perf-col/--cost-col."
        )
    if len(rows) == 1:
        raise FileFormatError(f"{p}: the file has a header but no model rows")
    idx = {c: header.index(c) for c in wanted}
    names: list[str] = []
    cols: dict[str, list[float]] = {c: [] for c in numeric_cols}
    for k, row in enumerate(rows[1:], start=1):
        line = line_of[k] if k < len(line_of) else k + 1
        if len(row) < len(header):
            raise FileFormatError(
                f"{p}, line {line}: {len(row)} cells for {len(header)} columns {header}"
            )
        names.append(row[idx[name_col]].strip())
        for c in numeric_cols:
            cell = row[idx[c]].strip()
            try:
                v = float(cell)
            except ValueError:
                raise FileFormatError(
                    f"{p}, line {line}, column {c!r}: {cell!r} is not a number"
                ) from None
            if not math.isfinite(v):
                raise FileFormatError(
                    f"{p}, line {line}, column {c!r}: {cell!r} is not a finite number"
                )
            if low is not None and v < low:
                raise FileFormatError(
                    f"{p}, line {line}, column {c!r}: {cell!r} is negative; the column must "
                    f"be >= {low:g}"
                )
            cols[c].append(v)
    return names, cols


def _line_numbers(text: str) -> list[int]:
    """1-based line number of each non-blank CSV record (records may span lines)."""
    out: list[int] = []
    reader = csv.reader(io.StringIO(text))
    start = 1
    for row in reader:
        if any(cell.strip() for cell in row):
            out.append(start)
        start = reader.line_num + 1
    return out


def _fmt(v: Any, digits: int) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower() if isinstance(v, bool) else "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}f}"
    return str(v)


def render(rows: list[dict[str, Any]], fmt: str, digits: dict[str, int] | None = None) -> str:
    """Render rows (dicts with the same keys) as ``table``, ``csv`` or ``json``."""
    if fmt == "json":  # strict JSON: a non-finite number is null, never Infinity or NaN
        clean = [
            {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()}
            for r in rows
        ]
        return json.dumps(clean, indent=2, allow_nan=False)
    keys = list(rows[0]) if rows else []
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    digits = digits or {}
    cells = [[_fmt(r[k], digits.get(k, 4)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) if i == 0 else k.rjust(w) for i, (k, w) in enumerate(zip(keys, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    for c in cells:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths, strict=True))))
    return "\n".join(lines)
