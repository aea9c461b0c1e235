"""Analysis: what was measured and what the compiler said, turned into evidence, then into prose.

Layers, each importing only those above it:

values    version order, number formats, markdown escaping
source    the case's source text: the expression at a position, parameters, allocating calls
profile   the allocation profile of each benchmark (step "sites"): allocations per source line, per op
sites     a cell's allocation sites: the compiler's words and the measured allocations, by position
evidence  sites matched across cells, one verdict per site and cell, claims, changes, disagreements
document  the report document (schemas/report.schema.json), assembled once
markdown  the report as markdown, rendered last from the document
"""
