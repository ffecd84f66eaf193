"""What a person reads in an approval, made once for every channel: the client's form text and the console's HTML.

Each row says who stands behind it. Facts the server read from Polar (or computed from them) are plain
rows; text a customer entered is tagged as theirs; words the agent wrote (a description, a refund's reason
and comment) are kept apart, under a heading saying the server did not check them. Times are shown in the
server's display zone with UTC beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from html import escape

Row = tuple[str, str, str]
"""(label, value, kind): kind is amount, text, warning, time (an ISO 8601 instant), customer or agent."""

CUSTOMER_TAG = "as the customer entered it"
AGENT_HEADING = "Written by the agent — not checked by this server"
CLOSING = "Approve only if this is exactly what you want. It cannot be undone."


def when(moment: datetime | float | str | None, zone: tzinfo = UTC) -> str:
    """A moment as a person reads it: `Fri 16 Apr 2027, 05:40 CEST (03:40 UTC)`; UTC alone when the zone is UTC."""
    if moment is None or moment == "":
        return "—"
    if isinstance(moment, str):
        try:
            parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return moment  # not a time after all: shown as it came
        moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    elif not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    utc = moment.astimezone(UTC)
    local = moment.astimezone(zone)
    if local.utcoffset() == utc.utcoffset() and local.tzname() in ("UTC", None):
        return f"{utc:%a %d %b %Y, %H:%M} UTC"
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()} ({utc:%H:%M} UTC)"


def _split(rows: Iterable[Row]) -> tuple[list[Row], list[Row]]:
    rows = list(rows)
    return [r for r in rows if r[2] != "agent"], [r for r in rows if r[2] == "agent"]


def _value(value: str, kind: str, zone: tzinfo) -> str:
    return when(value, zone) if kind == "time" else value


def text(summary: str, rows: Sequence[Row], zone: tzinfo = UTC) -> str:
    """The confirmation a client shows in its form: the summary, the facts, the agent's words apart."""
    facts, agents = _split(rows)
    lines = [summary, ""]
    for label, value, kind in facts:
        suffix = f"  ({CUSTOMER_TAG})" if kind == "customer" else ""
        lines.append(f"{label}: {_value(value, kind, zone)}{suffix}")
    if agents:
        lines += ["", f"{AGENT_HEADING}:"]
        lines += [f"  {label}: {value}" for label, value, _ in agents]
    lines += ["", CLOSING]
    return "\n".join(lines)


def shown_as(message: str, label: str) -> str | None:
    """What a confirmation made by `text` shows for the fact labelled `label` (its tag aside): what a person
    reading it would type where a form asks for that fact."""
    for line in message.splitlines():
        if line.startswith(f"{label}: "):
            return line.removeprefix(f"{label}: ").removesuffix(f"  ({CUSTOMER_TAG})")
    return None


def html(rows: Sequence[Row], zone: tzinfo = UTC) -> str:
    """The facts as the console and the approval page show them (the amount apart, in large type)."""
    facts, agents = _split(r for r in rows if r[2] != "amount")
    out = [f"<dl>{''.join(_html_row(label, value, kind, zone) for label, value, kind in facts)}</dl>"]
    if agents:
        out.append(
            f'<div class="agent-words"><div class="kind">{escape(AGENT_HEADING)}</div>'
            f"<dl>{''.join(_html_row(label, value, kind, zone) for label, value, kind in agents)}</dl></div>"
        )
    return "".join(out)


def _html_row(label: str, value: str, kind: str, zone: tzinfo) -> str:
    shown = escape(_value(value, kind, zone))
    if kind == "customer":
        shown = f'<span class="customer">{shown}</span><span class="tag">{escape(CUSTOMER_TAG)}</span>'
    elif kind == "agent":
        shown = f'<span class="customer">{shown}</span>'
    return f'<div class="row-{escape(kind)}" style="display:contents"><dt>{escape(label)}</dt><dd>{shown}</dd></div>'
