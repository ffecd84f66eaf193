"""Safe URL path segments from ids that may come from untrusted input."""

from __future__ import annotations

from urllib.parse import quote


def segment(value: str) -> str:
    """Quote an id for use as one path segment, so `../x` or `a/b` can never reach another route."""
    if not isinstance(value, str) or not value.strip() or value in (".", ".."):
        raise ValueError(f"not a usable id: {value!r}")
    return quote(value, safe="")
