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
    "label",
    "missing",
    "num",
    "p_value",
    "sig",
    "table",
]


def esc(value: object) -> str:
    """``str(value)`` escaped for HTML text and attribute values.

    >>> esc('<a href="x">')
    '&lt;a href=&quot;x&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def km2(v: float) -> str:
    """An area in km²: millions with two decimals from 1 M km², else whole km² with separators.

    Two decimals of a million km² (10,000 km²) is finer than any permafrost map's accuracy.

    >>> km2(12560285.4), km2(-1242597.8), km2(15222.7), km2(0.0)
    ('12.56 M km²', '−1.24 M km²', '15,223 km²', '0 km²')
    """
    sign = "−" if v < 0 and round(abs(v)) > 0 else ""
    a = abs(v)
    if a >= 1e6:
        return f"{sign}{a / 1e6:.2f} M km²"
    return f"{sign}{a:,.0f} km²"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sig(v: Any, digits: int = 4) -> str:
    """A number with at most ``digits`` significant digits, for people (not for re-reading).

    Integers up to ``digits`` digits and years stay as they are; large values get thousands
    separators; tiny ones a power of ten.

    >>> sig(0.9512989), sig(12560285.4), sig(2000), sig(1747), sig(0.0001), sig(3.2e-7), sig(200)
    ('0.9513', '12,560,000', '2000', '1747', '0.0001', '3.2×10⁻⁷', '200')
    >>> sig(True), sig(None), sig("lbfgs"), sig(float("nan"))
    ('True', '–', 'lbfgs', '–')
    """
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if isinstance(v, int) and mag < digits:
        return str(v)
    if mag < -4:
        mant, exp = f"{v:.{digits - 1}e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"{mant}×10{str(int(exp)).translate(_SUPERSCRIPT)}"
    rounded = round(v, digits - 1 - mag)
    if mag >= digits - 1:
        return f"{rounded:,.0f}"
    return f"{rounded:.{digits - 1 - mag}f}".rstrip("0").rstrip(".")


def p_value(p: float) -> str:
    """A p-value as people read it: ``p < 0.001`` below that, else three decimals.

    >>> p_value(8e-144), p_value(0.0553), p_value(1.0)
    ('p < 0.001', 'p = 0.055', 'p = 1.000')
    """
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def label(name: str) -> str:
    """A column or key name for people: underscores as spaces, ``_km2`` as a unit.

    >>> label("probability_weighted_difference_km2"), label("roc_auc")
    ('probability weighted difference (km²)', 'roc auc')
    """
    unit = ""
    if name.endswith("_km2"):
        name, unit = name[: -len("_km2")], " (km²)"
    return name.replace("_", " ") + unit


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
    headers: Mapping[str, str] | None = None,
    ident: str | None = None,
) -> str:
    """A DataFrame as an HTML table; numbers right-aligned and formatted by :func:`num`.

    ``formats`` maps a column to its own formatter (e.g. :func:`km2`); ``index`` adds the index
    as the first (header) column; ``headers`` maps a column to the text of its header (plain
    text); ``ident`` is the table's ``id``.
    """
    formats = formats or {}
    headers = headers or {}
    cols = list(df.columns)
    head = "".join(
        f"<th>{esc(headers.get(str(c), c))}</th>"
        for c in ([df.index.name or ""] if index else []) + cols
    )
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
    id_attr = f' id="{esc(ident)}"' if ident else ""
    return f"<table{id_attr}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


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
    """Nested JSON as nested key/value tables; numbers to four significant digits."""
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
    if isinstance(obj, float | int) and not isinstance(obj, bool):
        return esc(sig(obj))
    return esc(obj)
