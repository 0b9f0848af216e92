"""Pieces of a rendered report section, for the section tests."""

from __future__ import annotations

import base64
import re


def part_html(html: str, title: str) -> str:
    """The HTML of one part of a section, from its heading to the next part's."""
    start = html.index(f"<h3>{title}")
    nxt = [m.start() for m in re.finditer("<h3>", html) if m.start() > start]
    return html[start : nxt[0] if nxt else len(html)]


def images(html: str) -> dict[str, bytes]:
    """Figure id → PNG bytes of every embedded figure."""
    return {
        m.group(1): base64.b64decode(m.group(2))
        for m in re.finditer(r'<figure id="([^"]+)"><img src="data:image/png;base64,([^"]+)"', html)
    }
