"""Text a person reads in a terminal: wrapped lines and tables in at most 100 columns.

:func:`wrap` keeps words (numbers, paths) whole; :func:`fit_table` prints a
:func:`dynopt.stats.format_table` table as it is when it fits, else tighter,
else as blocks that repeat the columns naming a row.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WIDTH", "wrap", "fit_table"]

#: the widest line a report prints (columns of a terminal)
WIDTH = 100


def wrap(text, width: int = WIDTH, initial: str = "", subsequent: str = "") -> list:
    """``text`` as lines of at most ``width`` columns (:func:`textwrap.wrap`).

    Each line of ``text`` is wrapped on its own; words (numbers, paths) are
    never broken, so a single word longer than ``width`` stays whole; a
    no-break space (U+00A0) joins two words on one line and prints as a space.
    ``initial`` starts the first line, ``subsequent`` every other one.
    """
    import textwrap
    lines = []
    for k, paragraph in enumerate(str(text).split("\n")):
        first = initial if k == 0 else subsequent
        lines += textwrap.wrap(paragraph, width, initial_indent=first,
                               subsequent_indent=subsequent, break_long_words=False,
                               break_on_hyphens=False) or [first.rstrip()]
    return [line.replace("\u00a0", " ") for line in lines]


@dataclass
class _Column:
    """One column of a table as printed: its width, header, rule and each row's lines."""

    width: int
    header: str
    rule: str
    cells: list  # one list of padded lines per row


def _is_text(values) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, str) for v in present)


def _key_columns(rows, columns) -> list:
    """The columns naming a row: the leading ones up to the end of the first run of
    text columns (at most three), e.g. ``kappa, method`` or ``starts, method, swept``."""
    key, in_text = [], False
    for c in columns[:3]:
        text = _is_text([r.get(c) if hasattr(r, "get") else None for r in rows])
        if in_text and not text:
            break
        in_text = in_text or text
        key.append(c)
    if not in_text or len(key) == len(columns):
        return list(columns[:1])
    return key


def fit_table(rows, columns, width: int = WIDTH, key_columns=None) -> str:
    """A :func:`dynopt.stats.format_table` table in at most ``width`` columns, every cell kept.

    The table as :func:`~dynopt.stats.format_table` prints it when it fits;
    else with one space between columns if that fits; else as blocks stacked
    one under the other, each repeating the columns that name a row
    (``key_columns``, by default the leading columns up to the first run of text
    columns, such as ``method``) and holding as many of the other columns, in
    order, as fit. A text column too wide even alone beside the key has its
    cells wrapped onto several lines.

    Parameters
    ----------
    rows : list of dict
        The table's rows.
    columns : list of str
        Column names, in order (also the headers).
    width : int
        The widest line allowed.
    key_columns : list of str, optional
        Columns repeated in every block.

    Returns
    -------
    str
        The table's lines joined by newlines.
    """
    from ..stats import format_table
    rows, columns = list(rows), list(columns)
    whole = format_table(rows, columns)
    if not columns or max(len(line) for line in whole.split("\n")) <= width:
        return whole
    printed = {}
    for c in columns:
        lines = format_table(rows, [c]).split("\n")
        printed[c] = _Column(len(lines[0]), lines[0], lines[1], [[x] for x in lines[2:]])
    if sum(col.width for col in printed.values()) + len(columns) - 1 <= width:
        return _render([printed[c] for c in columns], " ")
    key = list(key_columns) if key_columns is not None else _key_columns(rows, columns)
    unknown = [c for c in key if c not in printed]
    if unknown:
        raise ValueError(f"key_columns {unknown} are not columns of the table {columns}")
    key_width = sum(printed[c].width for c in key) + 2 * (len(key) - 1)
    if key_width > width // 2:
        key = columns[:1]
        key_width = printed[key[0]].width
    rest = [c for c in columns if c not in key]
    avail = max(width - key_width - 2, 10)
    blocks, current, used = [], [], key_width
    for c in rest:
        col = printed[c]
        if col.width > avail and _is_text([r.get(c) for r in rows]):
            col = _wrapped(col, avail)
        if current and used + 2 + col.width > width:
            blocks.append(current)
            current, used = [], key_width
        current.append(col)
        used += 2 + col.width
    if current:
        blocks.append(current)
    return "\n\n".join(_render([printed[c] for c in key] + block, "  ") for block in blocks)


def _wrapped(col: _Column, width: int) -> _Column:
    """A text column with its cells wrapped to ``width`` (header and rule cut to match)."""
    cells = [wrap(lines[0].rstrip(), width) or [""] for lines in col.cells]
    wide = max([len(col.header.rstrip())] + [len(x) for c in cells for x in c])
    wide = min(wide, max(width, len(col.header.rstrip())))
    return _Column(wide, col.header.rstrip().ljust(wide), "-" * wide,
                   [[x.ljust(wide) for x in c] for c in cells])


def _render(cols: list, sep: str) -> str:
    out = [sep.join(c.header for c in cols).rstrip(), sep.join(c.rule for c in cols)]
    for i in range(len(cols[0].cells)):
        height = max(len(c.cells[i]) for c in cols)
        for j in range(height):
            out.append(sep.join(c.cells[i][j] if j < len(c.cells[i]) else " " * c.width
                                for c in cols).rstrip())
    return "\n".join(out)
