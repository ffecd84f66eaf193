"""Tool schemas kept on disk between runs: a server lists its tools without deriving them from the code again.

Deriving every tool's argument model and schemas with pydantic is most of what a server does before it can
answer `tools/list`, and every launch of a stdio client pays it. The schemas depend only on the code, so they
are written once to a file named after a fingerprint of the code (this package's files, the SDK's schema
code, pydantic's version, Python's) and read back on later starts. A changed file makes a new fingerprint,
so a stale file is never read; a missing or unreadable one only costs the derivation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent.parent
# Files of other fingerprints (older code) are removed when they have not been written for this long.
STALE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class ToolSchemas:
    """What a tool list shows of one tool that pydantic derives, and the schema its argument errors use."""

    parameters: dict[str, Any]
    output: dict[str, Any] | None
    explained: dict[str, Any]


def default_cache_dir() -> Path | None:
    """The per-user cache directory, or None where there is no home directory to put it in."""
    try:
        if sys.platform == "win32":
            local = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
            return Path(local) / "polar-orders-mcp" / "cache"
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "polar-orders-mcp"
    except (KeyError, RuntimeError):  # no HOME and no password entry
        return None


def _sdk_files() -> list[Path]:
    import mcp.server.mcpserver.utilities.func_metadata as func_metadata
    import pydantic.json_schema

    return [Path(func_metadata.__file__), Path(pydantic.json_schema.__file__)]


def fingerprint() -> str:
    """A digest of everything the schemas are derived from: this package's source files (path, size and
    modification time, as Python's own bytecode cache checks them), the SDK's and pydantic's schema code,
    and the versions of pydantic and Python."""
    import pydantic
    import pydantic_core

    digest = hashlib.sha256(f"{sys.version}|{pydantic.VERSION}|{pydantic_core.__version__}".encode())
    for path in sorted(PACKAGE.rglob("*.py")) + _sdk_files():
        stat = path.stat()
        digest.update(f"|{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


class SchemaCache:
    """The schemas of the tools one code fingerprint has, from one JSON file; `save` writes what was added."""

    def __init__(self, directory: Path, key: str | None = None) -> None:
        self.path = directory / f"tool-schemas-{key or fingerprint()}.json"
        self._entries: dict[str, Any] = {}
        self._added = False
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self._entries = loaded
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.debug("tool schema cache %s not read: %s", self.path, exc)

    def get(self, key: str) -> ToolSchemas | None:
        entry = self.entry(key)
        if not isinstance(entry, dict):
            return None
        try:
            return ToolSchemas(entry["parameters"], entry["output"], entry["explained"])
        except KeyError:
            return None

    def put(self, key: str, schemas: ToolSchemas) -> None:
        self.keep(key, {"parameters": schemas.parameters, "output": schemas.output, "explained": schemas.explained})

    def entry(self, key: str) -> Any:
        """What `keep` kept under `key` (JSON data), or None."""
        return self._entries.get(key)

    def keep(self, key: str, value: Any) -> None:
        self._entries[key] = value
        self._added = True

    def save(self) -> None:
        """Write the file if anything was added: whole, through a temporary file, so that a server starting
        at the same time reads either the old file or the new one. Failing to write is not an error."""
        if not self._added:
            return
        temporary: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, suffix=".tmp", delete=False) as out:
                temporary = out.name
                json.dump(self._entries, out, separators=(",", ":"))
            os.replace(temporary, self.path)
            self._added = False
            self._remove_stale()
        except OSError as exc:
            log.debug("tool schema cache %s not written: %s", self.path, exc)
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)

    def _remove_stale(self) -> None:
        cutoff = time.time() - STALE_SECONDS
        for other in self.path.parent.glob("tool-schemas-*.json"):
            if other != self.path and other.stat().st_mtime < cutoff:
                other.unlink(missing_ok=True)
