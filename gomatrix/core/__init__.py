"""The bottom layer, imported by every other: errors with exit codes, atomic files, the JSON Schemas
and packaged data, value formats and Go version order, the machine's platform, text helpers.
"""
