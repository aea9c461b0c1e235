"""A side tool: golang-compatible multi-arch images built from Go distributions and pushed to a
registry (gomatrix images.mirror).
"""
