"""Tables out of rows of dicts: one CSV writer and reader, one Markdown table writer, for every report.

A *row* is a ``dict`` from column key to value. The generalization tables, the convergence summaries and the
benchmark tables are all written with these functions; each caller says which columns it wants, under which
titles, and how a value is shown.
"""

from __future__ import annotations

import csv
from pathlib import Path


def markdown_table(rows, columns, format_cell=None, left_aligned=()):
    """``rows`` as a Markdown table.

    Args:
        rows: a sequence of dicts.
        columns: ``(key, title)`` pairs, in order.
        format_cell: ``format_cell(row, key) -> str``; default ``str(row.get(key, ""))``.
        left_aligned: keys of text columns; every other column is right-aligned.

    Returns:
        the table, one line per row after the header and the alignment line, without a final newline.
    """
    if format_cell is None:
        def format_cell(row, key):
            return str(row.get(key, ""))
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "|".join("---" if key in left_aligned else "---:" for key, _ in columns) + "|"]
    lines += ["| " + " | ".join(format_cell(row, key) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(rows, path, fieldnames):
    """Write ``rows`` (dicts) as CSV with a header of ``fieldnames``; creates the parent directory.

    Floats are written with ``repr`` (every digit), missing values as empty fields. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(fieldnames), restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: repr(value) if isinstance(value, float) else value for key, value in row.items()})
    return path


def read_csv(path):
    """Rows written by :func:`write_csv`, numbers parsed back (ints stay ints), empty fields left out."""
    with Path(path).open(newline="") as stream:
        return [{key: _parse_number(value) for key, value in row.items() if value != ""}
                for row in csv.DictReader(stream)]


def _parse_number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
