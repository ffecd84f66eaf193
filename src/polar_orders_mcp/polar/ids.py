"""Polar's ids: UUIDs, checked whole before they reach a URL path."""

from __future__ import annotations

import re

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# The one check of an email address's form where the server takes one (Polar checks it properly).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
_UUID = re.compile(UUID_PATTERN.removeprefix("^").removesuffix("$"))


def is_uuid(text: str) -> bool:
    """The whole text is a UUID (a trailing newline is not: `$` alone would let it through)."""
    return _UUID.fullmatch(text) is not None
