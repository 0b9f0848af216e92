"""HTML fragments of the report: escaping, number formats, tables, figures and notes.

Pure string builders: nothing here reads a file or knows the run folder. Every value that reaches
the page passes through :func:`esc`, so a file name or a JSON value can never inject markup.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "esc",
    "figure",
    "get",
    "headline_cell",
    "km2",
    "kv_html",
    "missing",
    "num",
    "table",
]


def esc(value: object) -> str:
    """``str(value)`` escaped for HTML text and attribute values.

    >>> esc('<a href="x">')
    '&lt;a href=&quot;x&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def km2(v: float) -> str:
    """An area in km², rounded to whole km² with thousands separators.

    >>> km2(1234567.8)
    '1,234,568 km²'
    """
    return f"{v:,.0f} km²"


def num(v: Any, digits: int = 3) -> str:
    """Numbers for tables: thousands separators for large values, years left alone.

    >>> num(2020), num(123456), num(0.12345), num(float("nan"))
    ('2020', '123,456', '0.123', '–')
    """
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}f}"
    return str(v)


def missing(what: str) -> str:
    """The visible note that replaces a figure or table whose input is absent (``what`` is HTML)."""
    return f'<p class="missing">Not available: {what}</p>'


def headline_cell(key: str, value: Any, text: str) -> str:
    """A table cell that carries the exact summary.json value for automated checks."""
    ident = "hl-" + key.replace(".", "-").replace("_", "-")
    return (
        f'<td class="num" id="{esc(ident)}" data-summary-key="{esc(key)}" '
        f'data-value="{esc(json.dumps(value))}">{esc(text)}</td>'
    )


def table(
    df: pd.DataFrame,
    *,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    index: bool = False,
) -> str:
    """A DataFrame as an HTML table; numbers right-aligned and formatted by :func:`num`.

    ``formats`` maps a column to its own formatter (e.g. :func:`km2`); ``index`` adds the index
    as the first (header) column.
    """
    formats = formats or {}
    cols = list(df.columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in ([df.index.name or ""] if index else []) + cols)
    rows = []
    # itertuples keeps each column's dtype (iterrows would turn an int epoch into a float)
    for idx, values in zip(df.index, df.itertuples(index=False, name=None), strict=True):
        cells = [f"<th>{esc(idx)}</th>"] if index else []
        for c, v in zip(cols, values, strict=True):
            if c in formats:
                cells.append(f'<td class="num">{esc(formats[c](v))}</td>')
            elif isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_):
                cells.append(f'<td class="num">{esc(num(v))}</td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def figure(uri: str, alt: str, caption: str, ident: str) -> str:
    """An embedded image (``uri`` is a data URI) with its caption (``caption`` is HTML)."""
    return (
        f'<figure id="{esc(ident)}"><img src="{uri}" alt="{esc(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def get(d: Any, *keys: str) -> Any:
    """``d[k1][k2]…``, or None as soon as a level is not a mapping or lacks the key.

    >>> get({"cv": {"random": {"kappa": 0.5}}}, "cv", "random", "kappa"), get({}, "cv", "x")
    (0.5, None)
    """
    for k in keys:
        if not isinstance(d, Mapping) or k not in d:
            return None
        d = d[k]
    return d


def kv_html(obj: Any, depth: int = 0) -> str:
    """Nested JSON as nested key/value tables."""
    if isinstance(obj, Mapping):
        if not obj:
            return "<i>empty</i>"
        rows = "".join(
            f"<tr><th>{esc(k)}</th><td>{kv_html(v, depth + 1)}</td></tr>" for k, v in obj.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(obj, list | tuple):
        if all(not isinstance(v, Mapping | list | tuple) for v in obj):
            return ", ".join(f"<code>{esc(v)}</code>" for v in obj) or "<i>none</i>"
        return "<ol>" + "".join(f"<li>{kv_html(v, depth + 1)}</li>" for v in obj) + "</ol>"
    if isinstance(obj, float):
        return esc(num(obj, 4))
    return esc(obj)
