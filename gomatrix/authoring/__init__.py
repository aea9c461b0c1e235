"""A side tool: case directories extracted from an article's Go code (gomatrix cases.extract).
"""
