"""python -m gomatrix: the same as the `gomatrix` console script."""

from gomatrix.cli import main

main()
