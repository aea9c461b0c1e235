"""Reading what a cell produced: go test and -m output, the generated exact-count and profile tests,
the allocation profile per line, and the cell's allocation sites by position.
"""
