"""What to run: matrix.yaml parsed into frozen values, case directories and their claims, and the
cells (version x arch x case) with their shards. Pure: nothing here runs anything.
"""
