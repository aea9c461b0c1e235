"""Reading what a cell produced: go test and -m output, the hook's exact counts, profiles and coverage,
the allocation profile per line, and the cell's allocation sites by position.
"""
