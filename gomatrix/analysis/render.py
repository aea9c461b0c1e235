"""report.md -> a standalone report.html (GFM tables, relative links kept), for browsers and Pages."""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

_STYLE = """
body { font: 13px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1em auto;
       max-width: 1400px; padding: 0 1em; color: #1f2328; }
table { border-collapse: collapse; margin: .6em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 1px 8px; line-height: 1.35; text-align: left; white-space: nowrap; }
td:first-child { white-space: normal; min-width: 16em; max-width: 62em; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfbfc; }
code { background: #eff1f3; padding: 1px 4px; border-radius: 4px; font-size: 90%; }
img { max-width: 100%; }
h1 { font-size: 1.6em; margin: .3em 0; }
h2 { font-size: 1.25em; margin: 1em 0 .4em; }
h1, h2 { border-bottom: 1px solid #d8dee4; padding-bottom: .2em; }
p { margin: .4em 0; }
ul { margin: .3em 0; padding-left: 1.6em; }
details { margin: .5em 0; }
summary { cursor: pointer; font-weight: 600; }
"""


def markdown_to_html(markdown: str, title: str) -> str:
    """CommonMark plus GFM tables. Raw HTML passes through for the report's <details> blocks: every text
    the report takes from cases, cells or the compiler is escaped (md_text) or in code spans (md_code)."""
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}</body></html>\n")
