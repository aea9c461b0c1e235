"""The only user of the Docker SDK and the registry HTTP API: the engine (containers, images,
volumes, labels), the registry client, and cleaning up what killed runs left.
"""
