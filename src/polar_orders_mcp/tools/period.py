"""The period of a report (summarize_orders, export_orders): moments or calendar days, checked, as Polar takes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AwareDatetime, Field

From = Annotated[AwareDatetime | None, Field(description="inclusive")]
FromDay = Annotated[date | None, Field(description="YYYY-MM-DD, inclusive, in timezone (instead of created_after)")]
ToDay = Annotated[date | None, Field(description="YYYY-MM-DD, inclusive, in timezone (instead of created_before)")]
Timezone = Annotated[
    str | None, Field(max_length=64, description="IANA, e.g. Europe/Paris, for days; default: the server's (UTC)")
]

# Polar's created_after is exclusive and its timestamps are to the microsecond: asking for the moments after one
# microsecond before the start includes an order made at the start itself.
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Period:
    """From `start` (inclusive) to `end` (exclusive); days are those of `zone`."""

    start: datetime | None
    end: datetime | None
    zone: str

    @property
    def polar_after(self) -> datetime | None:
        """Polar's (exclusive) created_after for an inclusive start."""
        if self.start is None or self.start.replace(tzinfo=None) == datetime.min:
            return None  # nothing is earlier than the first moment there is
        return self.start - ONE_MICROSECOND

    def said(self) -> str:
        start = f"from {self.start.isoformat()} (inclusive)" if self.start else "from the first order"
        end = f"to {self.end.isoformat()} (exclusive)" if self.end else "to now"
        return f"{start} {end}; days in {self.zone}"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(f"Unknown timezone {name!r}: use an IANA name such as UTC or Europe/Paris.") from exc


def period(
    created_after: datetime | None,
    created_before: datetime | None,
    from_day: date | None,
    to_day: date | None,
    timezone: str,
) -> Period:
    """The period asked for, or a ToolError saying what is wrong with it; `timezone` is already defaulted."""
    tz = zone(timezone)
    if from_day is not None and created_after is not None:
        raise ToolError("Pass created_after or from_day, not both.")
    if to_day is not None and created_before is not None:
        raise ToolError("Pass created_before or to_day, not both.")
    if from_day is not None and to_day is not None and from_day > to_day:
        raise ToolError(f"from_day {from_day} is after to_day {to_day}.")
    if to_day is not None and to_day >= date.max:
        raise ToolError(f"to_day {to_day} has no next day; leave to_day out to count up to now.")
    start = datetime.combine(from_day, time(), tz) if from_day is not None else created_after
    # to_day is inclusive: the period ends when the next day starts there.
    end = datetime.combine(to_day + timedelta(days=1), time(), tz) if to_day is not None else created_before
    if start is not None and end is not None and start >= end:
        raise ToolError("created_after must be before created_before.")
    return Period(start, end, timezone)
