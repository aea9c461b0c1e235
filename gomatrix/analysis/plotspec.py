"""What a case's plot shows, shared by the data (plots) and the drawing (plotdraw, which loads matplotlib)."""

from __future__ import annotations

# (metric key in a benchmark result, gid prefix, panel title)
PANELS = (
    ("allocs_per_op", "allocs", "allocs/op"),
    ("bytes_per_op", "bytes", "B/op"),
    ("ns_per_op", "ns", "ns/op (native only)"),
)
