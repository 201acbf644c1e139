"""The HTML of the report (:mod:`sinkmap.publish.report`): its style sheet, tables with number
formats, and figures embedded as ``data:`` URIs, so that the page needs no other file."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; color: #1b1b1b; background: #fafafa; line-height: 1.45; }
main { max-width: 1120px; margin: 0 auto; padding: 0 24px 48px; }
h1 { font-size: 1.7em; margin: 0.6em 0 0.1em; }
h2 { border-bottom: 2px solid #238443; padding-bottom: 4px; margin-top: 2em; }
h3 { margin-bottom: 0.3em; }
.banner { background: #b00020; color: #fff; font-weight: 700; font-size: 1.35em;
          text-align: center; padding: 14px 10px; letter-spacing: 0.04em; }
.banner small { display: block; font-weight: 400; font-size: 0.65em; letter-spacing: 0; }
.meta { color: #555; font-size: 0.92em; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; flex: 1 1 480px; background: #fff; border: 1px solid #ddd; padding: 6px; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 0.88em; color: #444; padding-top: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; background: #fff; font-size: 0.9em; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; vertical-align: top; }
th { background: #eef5ee; text-align: left; }
td { overflow-wrap: anywhere; }
td.num { overflow-wrap: normal; text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { background: #fff; border: 1px solid #ddd; padding: 10px; overflow-x: auto; font-size: 0.85em; }
code { font-size: 0.9em; word-break: break-all; }
.scroll { overflow-x: auto; max-width: 100%; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 10px; }
"""

Column = tuple[str, str, Callable[[Any], str] | None]  # header, key, number formatter


def present(v: Any) -> bool:
    if v is None:
        return False
    try:
        if pd.isna(v):
            return False
    except (TypeError, ValueError):  # a list or another non-scalar
        pass
    return str(v) != ""


def text(v: Any) -> str:
    return html.escape(str(v))


def f0(v: Any) -> str:
    return f"{float(v):,.0f}"


def f1(v: Any) -> str:
    return f"{float(v):,.1f}"


def f2(v: Any) -> str:
    return f"{float(v):,.2f}"


def table(columns: Sequence[Column], rows: Sequence[dict[str, Any]], *, table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _, _ in columns)
    body = []
    for row in rows:
        cells = []
        for _, key, fmt in columns:
            v = row.get(key)
            if not present(v):
                cells.append("<td></td>")
            elif fmt is not None:
                cells.append(f'<td class="num">{fmt(v)}</td>')
            else:
                text = html.escape(str(v)).replace("\n", "<br>")
                cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(body)
        + "</tbody></table></div>"
    )


def img(caption: str, uri: str) -> str:
    alt = html.escape(re.sub(r"&\w+;", "-", caption), quote=True)
    return f'<figure><img alt="{alt}" src="{uri}"><figcaption>{caption}</figcaption></figure>'


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
