"""gomatrix: Go memory allocation behaviour across Go versions and CPU architectures."""

__version__ = "0.1.0"
