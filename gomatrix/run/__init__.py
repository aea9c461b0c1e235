"""A run from start to end: claiming the run directory, the result cache, running cells with progress,
cell files, merging cells (or shards) into the report, the nightly, GitHub Actions output.
"""
