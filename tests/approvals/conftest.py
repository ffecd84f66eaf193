"""The approval tests use the tool tests' fixtures: a fresh emulator, a server on it and its console."""

from tests.tools.conftest import emulator, make_parts, make_server, mode, parts, person, seed, server, state

__all__ = ["emulator", "make_parts", "make_server", "mode", "parts", "person", "seed", "server", "state"]
