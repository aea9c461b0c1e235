"""Analysis: what was measured and what the compiler said, turned into evidence, then into prose.

Modules, each importing only those above it (the per-cell facts come from gomatrix.results):

stats     benchstat's comparison of ns/op samples (Mann-Whitney U), B/op tolerance
evidence  sites matched across cells, one verdict per site and cell, claims, changes, disagreements
document  the report document (schemas/report.schema.json), assembled once
markdown  the report as markdown, rendered last from the document
render    report.html from the markdown
plotdraw  one case's plot data as an SVG document, written by hand
plots     each case's plot data, drawn by plotdraw, and the SVG cache
runs      earlier runs under a reports directory and their (migrated) reports
since     what changed since the previous run
index     reports/index.md, one cached row per run
"""
