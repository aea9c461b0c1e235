"""report.md -> a standalone report.html (GFM tables, relative links kept), for browsers and Pages."""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

_STYLE = """
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1em; color: #1f2328; }
table { border-collapse: collapse; margin: 1em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; white-space: nowrap; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfbfc; }
code { background: #eff1f3; padding: 1px 4px; border-radius: 4px; font-size: 90%; }
img { max-width: 100%; }
h1, h2 { border-bottom: 1px solid #d8dee4; padding-bottom: .3em; }
"""


def markdown_to_html(markdown: str, title: str) -> str:
    """CommonMark plus GFM tables; raw HTML in the markdown stays escaped (html=False)."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}</body></html>\n")
