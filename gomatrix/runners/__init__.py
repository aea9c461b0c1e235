"""Running cells: the Runner protocol and a cell's outcome, the Docker runner, the host runner, and
the choice between them (runner: auto | docker | host).
"""
