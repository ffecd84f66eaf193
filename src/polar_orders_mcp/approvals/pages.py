"""The approval console's pages: plain server-rendered HTML, readable on a phone; script only for passkeys.

Every value is escaped here; the facts come from render.py, the same rows a client's form shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Literal

from polar_orders_mcp.approvals import render
from polar_orders_mcp.store.records import Approval, Earlier, Passkey


@dataclass(frozen=True)
class PasskeyAsk:
    """How a request that needs a passkey is approved on its page: the passkey challenge, or why it cannot be."""

    rp_id: str = ""
    challenge: str = ""
    """base64url of the challenge for Approve, derived from the approval and `nonce` (see passkeys.py)."""
    nonce: str = ""
    credentials: tuple[str, ...] = ()
    unable: str | None = None


Origin = Literal["this", "earlier", "other"]
"""Which run of the server asked for a request: this one, one started before it, or another beside it."""

Titles = Mapping[str, str]
"""The title of each tool that moves money, by its name, as the tool table gives it: a request's heading."""

STATE_WORDS = {
    "pending": "Waiting for a decision",
    "approved": "Approved, not used yet",
    "denied": "Denied",
    "expired": "Expired",
    "used": "Approved and used",
}

CSS = """
:root{--ink:#1b1f24;--muted:#5b6470;--line:#d9dee4;--bg:#f5f6f8;--card:#fff;--ok:#11663a;--ok-bg:#e6f4ec;
--no:#9b1c1c;--no-bg:#fbeaea;--warn:#7a4d00;--warn-bg:#fff4de;--accent:#1f4fbf}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:12px 20px;display:flex;align-items:center;
justify-content:space-between;gap:12px;flex-wrap:wrap}
header .brand{font-weight:650;letter-spacing:.2px}
header .who{color:var(--muted);font-size:14px;display:flex;gap:10px;align-items:center}
main{max-width:860px;margin:0 auto;padding:20px 16px 48px}
h1{font-size:22px;margin:8px 0 16px}
h2{font-size:17px;margin:28px 0 10px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.6px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:0 0 14px}
.card.pending{border-left:4px solid var(--accent)}
.amount{font-size:30px;font-weight:700;font-variant-numeric:tabular-nums;margin:2px 0 6px}
.kind{color:var(--muted);font-size:14px;text-transform:uppercase;letter-spacing:.5px}
.summary{margin:4px 0 12px}
dl{display:grid;grid-template-columns:minmax(120px,34%) 1fr;gap:6px 14px;margin:0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
.customer{background:#f1f3f6;border-radius:4px;padding:0 4px;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;
font-size:14px}
.tag{display:inline-block;font-size:12px;color:var(--muted);border:1px solid var(--line);border-radius:999px;
padding:0 8px;margin-left:6px;white-space:nowrap;font-family:inherit}
.row-warning dd{color:var(--warn);font-weight:600}
.agent-words{margin-top:14px;border-top:1px dashed var(--line);padding-top:10px}
.agent-words .kind{margin-bottom:6px}
.notice{background:var(--warn-bg);color:var(--warn);border-radius:8px;padding:10px 12px;margin:12px 0}
.notice.done{background:var(--ok-bg);color:var(--ok)}
.notice.plain{background:#eef0f3;color:var(--ink)}
.earlier{background:var(--warn-bg);border-radius:8px;padding:10px 12px;margin:12px 0}
.earlier ul{margin:4px 0 0;padding-left:20px}
.reason-words{font-style:italic;overflow-wrap:anywhere}
.actions label,.actions textarea{flex-basis:100%;margin:0}
textarea{width:100%;font:inherit;padding:8px 10px;border:1px solid var(--line);border-radius:8px;min-height:3em}
.meta{color:var(--muted);font-size:14px;margin-top:12px}
.actions{display:flex;gap:10px;margin-top:16px;flex-wrap:wrap}
button{font:inherit;font-weight:600;border-radius:8px;padding:10px 20px;border:1px solid transparent;cursor:pointer;
min-width:130px}
button.approve{background:var(--ok);color:#fff}
button.deny{background:#fff;color:var(--no);border-color:var(--no)}
button.plain{background:#fff;color:var(--ink);border-color:var(--line);min-width:0;padding:6px 12px;font-weight:500}
.state{display:inline-block;border-radius:999px;padding:2px 10px;font-size:13px;font-weight:600}
.state.approved,.state.used{background:var(--ok-bg);color:var(--ok)}
.state.denied{background:var(--no-bg);color:var(--no)}
.state.expired{background:#eef0f3;color:var(--muted)}
.state.pending{background:#e8eefc;color:var(--accent)}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:10px;
overflow:hidden;font-size:14px}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;background:#fafbfc}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
a{color:var(--accent)}
form.login{max-width:380px}
label{display:block;font-weight:600;margin:12px 0 6px}
input[type=text],input[type=password]{width:100%;font:inherit;padding:10px 12px;border:1px solid var(--line);
border-radius:8px}
.error{background:var(--no-bg);color:var(--no);border-radius:8px;padding:10px 12px;margin:12px 0}
.empty{color:var(--muted)}
.actions form{display:contents}
.passkey-status{color:var(--no);margin-top:10px}
a.approve-link{display:inline-block;font-weight:600;border-radius:8px;padding:10px 20px;background:var(--ok);color:#fff;
text-decoration:none}
@media (max-width:560px){dl{grid-template-columns:1fr}dt{margin-top:6px}.amount{font-size:26px}
button{flex:1}table .opt{display:none}}
"""


def when(timestamp: float | None, zone: tzinfo) -> str:
    """A moment in the server's display zone (UTC beside), marked up so that the console's script shows it in the
    viewer's own zone instead (UTC still beside)."""
    if timestamp is None:
        return escape(render.when(timestamp, zone))
    instant = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
    return f'<time datetime="{instant}">{escape(render.when(timestamp, zone))}</time>'


def page(
    title: str, body: str, *, approver: str | None = None, csrf: str | None = None, base: str = "", script: bool = False
) -> str:
    who = ""
    if approver is not None and csrf is not None:
        who = (
            f'<div class="who"><a href="{escape(base)}/mandates">Standing approvals</a>'
            f'<a href="{escape(base)}/passkeys">Passkeys</a>'
            f"<span>Signed in as <strong>{escape(approver)}</strong></span>"
            f'<form method="post" action="{escape(base)}/logout">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            '<button class="plain" type="submit">Sign out</button></form></div>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Polar approvals</title><style>{CSS}</style>"
        + (f'<script src="{escape(base)}/passkeys.js" defer></script>' if script or who else "")
        + "</head><body>"
        f'<header><div class="brand"><a href="{escape(base) or "/"}" style="color:inherit;text-decoration:none">'
        f"Polar approvals</a></div>{who}</header><main>{body}</main></body></html>"
    )


def facts(approval: Approval, zone: tzinfo = UTC) -> str:
    return render.html(approval.display, zone)


def amount_of(approval: Approval) -> str:
    return next((value for _, value, kind in approval.display if kind == "amount"), "")


def customer_of(approval: Approval) -> str:
    """The customer a request is about, as the preview shows them (their email, else their name), as HTML."""
    rows = {label: value for label, value, kind in approval.display if kind == "customer"}
    shown = rows.get("Customer email") or rows.get("Customer name")
    return f'<span class="customer">{escape(shown)}</span>' if shown else ""


def card(
    approval: Approval,
    now: float,
    *,
    csrf: str,
    base: str,
    link: bool,
    zone: tzinfo,
    passkey: PasskeyAsk | None = None,
    needs_passkey: bool = False,
    origin: Origin = "this",
    before: Earlier | None = None,
    titles: Titles | None = None,
) -> str:
    """One request. `needs_passkey`: approving it takes a passkey, asked on its own page (`passkey` there);
    `before`: what was decided or refused earlier on the same call and target, shown while it waits."""
    state = approval.state_at(now)
    title = (titles or {}).get(approval.tool, approval.tool)
    heading = f'<a href="{escape(base)}/{escape(approval.id)}">{escape(title)}</a>' if link else escape(title)
    amount = amount_of(approval)
    parts = [
        f'<section class="card {escape(state)}"><div class="kind">{heading}</div>',
        f'<div class="amount">{escape(amount)}</div>' if amount else "",
        f'<div class="summary">{escape(approval.summary)}</div>',
        facts(approval, zone),
        f'<div class="meta">Requested by {requester(approval)} at '
        f"{when(approval.created_at, zone)} · request {escape(approval.id)}</div>",
        origin_note(approval, origin, zone),
        earlier_note(approval, before, now, zone) if state == "pending" and before is not None else "",
    ]
    if state == "pending" and approval.channel in ("console", "url") and needs_passkey:
        parts.append(f'<div class="meta">Open until {when(approval.expires_at, zone)}.</div>')
        parts.append(passkey_actions(approval, csrf=csrf, base=base, passkey=passkey))
    elif state == "pending" and approval.channel in ("console", "url"):
        parts.append(
            f'<div class="meta">Open until {when(approval.expires_at, zone)}.</div>'
            f'<form class="actions" method="post" action="{escape(base)}/{escape(approval.id)}">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">{reason_field(approval)}'
            '<button class="approve" type="submit" name="decision" value="approve">Approve</button>'
            '<button class="deny" type="submit" name="decision" value="deny">Deny</button></form>'
        )
    elif state == "pending":
        parts.append('<div class="meta">Being answered in the client that asked for it.</div>')
    else:
        parts.append(f'<div class="meta">{decision_line(approval, now, zone)}</div>')
    parts.append("</section>")
    return "".join(parts)


def passkey_actions(approval: Approval, *, csrf: str, base: str, passkey: PasskeyAsk | None) -> str:
    """Approve with a passkey (on the request's own page; in a list, a link to it), and Deny, which needs none."""
    action = f"{escape(base)}/{escape(approval.id)}"
    deny = (
        f'<form method="post" action="{action}"><input type="hidden" name="csrf" value="{escape(csrf)}">'
        f"{reason_field(approval)}"
        '<button class="deny" type="submit" name="decision" value="deny">Deny</button></form>'
    )
    note = '<div class="meta">Approving this request needs your passkey.</div>'
    if passkey is None:
        approve = f'<a class="approve-link" href="{action}">Open it to approve with your passkey</a>'
        return f'{note}<div class="actions">{approve}{deny}</div>'
    if passkey.unable is not None:
        return f'{note}<div class="notice">{escape(passkey.unable)}</div><div class="actions">{deny}</div>'
    approve = (
        f'<form method="post" action="{action}" data-passkey-approve data-rp-id="{escape(passkey.rp_id)}" '
        f'data-challenge="{escape(passkey.challenge)}" data-credentials="{escape(" ".join(passkey.credentials))}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="nonce" value="{escape(passkey.nonce)}">'
        '<input type="hidden" name="decision" value="approve"><input type="hidden" name="assertion" value="">'
        '<button class="approve" type="submit">Approve with passkey</button></form>'
    )
    return f'{note}<div class="actions">{approve}{deny}</div><p class="passkey-status" hidden></p>'


REASON_LIMIT = 500


def reason_field(approval: Approval) -> str:
    """The optional reason of a decision, posted with it: the agent is told it, and the audit keeps it."""
    field_id = f"reason-{escape(approval.id)}"
    return (
        f'<label for="{field_id}">Reason (optional; the agent is told it, as your words, '
        f'and the audit keeps it)</label><textarea id="{field_id}" name="reason" maxlength="{REASON_LIMIT}" '
        'rows="2"></textarea>'
    )


def ago(seconds: float) -> str:
    """How long ago, roughly: "40 s ago", "12 min ago", "3 h ago"."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def earlier_note(approval: Approval, before: Earlier | None, now: float, zone: tzinfo) -> str:
    """What was decided or refused before on the same call and target, newest first; nothing when nothing was."""
    if before is None or not (before.decided or before.refused):
        return ""
    items = []
    for earlier in before.decided:
        state = earlier.state_at(now)
        words = STATE_WORDS.get(state, state) if earlier.mandate is None else "Granted under a standing approval"
        by = f" by {escape(earlier.decided_by)}" if earlier.decided_by else ""
        item = f"{escape(words)} {ago(now - (earlier.decided_at or now))}{by} ({when(earlier.decided_at, zone)})"
        if earlier.amount is not None and amount_of(earlier) != amount_of(approval):
            item += f", for {escape(amount_of(earlier))}"
        if earlier.reason:
            item += f': <span class="reason-words">“{escape(earlier.reason)}”</span>'
        items.append(f"<li>{item}</li>")
    for act in before.refused:
        code = escape(str(act.detail.get("refusal")))
        items.append(f"<li>Polar refused it {ago(now - act.started_at)} ({when(act.started_at, zone)}): {code}</li>")
    return (
        '<div class="earlier"><div class="kind">Asked before: the same call on the same target, in the last '
        f"day</div><ul>{''.join(items)}</ul></div>"
    )


def requester(approval: Approval) -> str:
    """Who asked, escaped: the person a client acts for, and the client (the name it gives itself, then how it
    reached this server: stdio, or its credential's name)."""
    client = f"<strong>{escape(approval.client)}</strong>"
    if approval.client_name and approval.client_name != approval.client:
        client = (
            f'<strong>{escape(approval.client_name)}</strong><span class="tag">its own name for itself</span>'
            f" through {client}"
        )
    if approval.asked_by is None:
        return client
    return f"<strong>{escape(approval.asked_by)}</strong> through {client}"


def origin_note(approval: Approval, origin: Origin, zone: tzinfo) -> str:
    """A request another run of the server asked for, said so: its agent may be gone, or be another's."""
    if origin == "earlier":
        return (
            f'<div class="notice">Asked by an earlier run of this server at {when(approval.created_at, zone)}; '
            "the agent that asked may be gone.</div>"
        )
    if origin == "other":
        return (
            '<div class="notice">Asked through another running process of this server (another client\'s, '
            "or a replica), not this one.</div>"
        )
    return ""


def paging(page: int, more: bool, base: str) -> str:
    """Links to the pages of requests waiting before and after this one."""
    links = []
    if page > 1:
        links.append(f'<a href="{escape(base)}?page={page - 1}">← Waiting longer</a>')
    if more:
        links.append(f'<a href="{escape(base)}?page={page + 1}">More waiting →</a>')
    return f'<p class="paging">{" · ".join(links)}</p>' if links else ""


def decision_line(approval: Approval, now: float, zone: tzinfo) -> str:
    state = approval.state_at(now)
    line = f'<span class="state {escape(state)}">{escape(STATE_WORDS.get(state, state))}</span>'
    if approval.mandate is not None:
        line += (
            f" · Granted under standing approval {escape(approval.mandate)} (signed by "
            f"{escape(approval.decided_by or 'an approver')}) at {when(approval.decided_at, zone)}"
        )
    elif approval.decided_by:
        line += f" by {escape(approval.decided_by)} at {when(approval.decided_at, zone)}"
    if approval.proof:
        line += " with a passkey"
    if approval.used_at:
        line += f"; used at {when(approval.used_at, zone)}"
    if approval.outcome:
        line += f"; outcome: {escape(approval.outcome.replace('_', ' '))}"
    if approval.reason:
        line += f'; reason: <span class="reason-words">“{escape(approval.reason)}”</span>'
    return line


def index(
    pending: list[Approval],
    decided: list[Approval],
    now: float,
    *,
    approver: str,
    csrf: str,
    base: str,
    zone: tzinfo,
    needs_passkey: frozenset[str] = frozenset(),
    origins: Mapping[str, Origin] | None = None,
    page_number: int = 1,
    more: bool = False,
    before: Mapping[str, Earlier] | None = None,
    titles: Titles | None = None,
) -> str:
    """`pending`: one page of the requests waiting (the `page_number`th; `more` when others wait after it).
    `needs_passkey`: the ids of the requests that only a passkey approves; `before`: by id, what was decided or
    refused before on each one's call and target."""
    origins = origins or {}
    before = before or {}
    titles = titles or {}
    cards = "".join(
        card(
            a,
            now,
            csrf=csrf,
            base=base,
            link=True,
            zone=zone,
            needs_passkey=a.id in needs_passkey,
            origin=origins.get(a.id, "this"),
            before=before.get(a.id),
            titles=titles,
        )
        for a in pending
    ) or (
        '<p class="empty">Nothing is waiting for a decision.</p>'
        if page_number == 1
        else '<p class="empty">Nothing more is waiting.</p>'
    )
    rows = "".join(
        f"<tr><td>{when(a.decided_at or a.expires_at, zone)}</td><td>{escape(titles.get(a.tool, a.tool))}</td>"
        f'<td class="num">{escape(amount_of(a))}</td><td>{customer_of(a)}</td>'
        f'<td class="opt">{requester(a)}</td>'
        f'<td>{decision_line(a, now, zone)} · <a href="{escape(base)}/{escape(a.id)}">details</a></td></tr>'
        for a in decided
    )
    history = (
        '<table><thead><tr><th>When</th><th>What</th><th>Amount</th><th>Customer</th><th class="opt">Asked by</th>'
        "<th>Decision</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else '<p class="empty">No decisions yet.</p>'
    )
    body = (
        f"<h1>Waiting for approval{f' (page {page_number})' if page_number > 1 or more else ''}</h1>{cards}"
        f'{paging(page_number, more, base)}<p><a href="{escape(base)}">Refresh</a></p>'
        f"<h2>Recent decisions</h2>{history}"
    )
    return page("Waiting for approval", body, approver=approver, csrf=csrf, base=base)


def detail(
    approval: Approval,
    now: float,
    *,
    approver: str,
    csrf: str,
    base: str,
    notice: str | None,
    zone: tzinfo,
    passkey: PasskeyAsk | None = None,
    needs_passkey: bool = False,
    origin: Origin = "this",
    before: Earlier | None = None,
    notice_kind: str = "",
    titles: Titles | None = None,
) -> str:
    """One request on its own page; `notice`, what came of a decision just made (`notice_kind`: its CSS class)."""
    note = f'<div class="notice {escape(notice_kind)}">{escape(notice)}</div>' if notice else ""
    shown = card(
        approval,
        now,
        csrf=csrf,
        base=base,
        link=False,
        zone=zone,
        passkey=passkey,
        needs_passkey=needs_passkey,
        origin=origin,
        before=before,
        titles=titles,
    )
    body = f"{note}<h1>Approval request</h1>{shown}" + f'<p><a href="{escape(base)}">All requests</a></p>'
    script = passkey is not None and passkey.unable is None
    return page("Approval request", body, approver=approver, csrf=csrf, base=base, script=script)


def passkeys(
    keys: list[Passkey],
    *,
    approver: str,
    csrf: str,
    base: str,
    zone: tzinfo,
    options: str | None,
    nonce: str,
    unable: str | None,
    error: str | None,
    notice: str | None,
) -> str:
    """The approver's passkeys, with add (`options`: the registration options, JSON) and remove."""
    problem = f'<div class="error">{escape(error)}</div>' if error else ""
    note = f'<div class="notice">{escape(notice)}</div>' if notice else ""
    rows = "".join(
        f"<tr><td>{escape(k.name)}</td><td>{when(k.created_at, zone)}</td>"
        f"<td>{when(k.last_used_at, zone) if k.last_used_at else 'never'}</td>"
        f'<td><form method="post" action="{escape(base)}/passkeys/remove">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="credential_id" value="{escape(k.credential_id)}">'
        '<button class="plain remove" type="submit">Remove</button></form></td></tr>'
        for k in keys
    )
    listed = (
        "<table><thead><tr><th>Name</th><th>Added</th><th>Last used</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if rows
        else '<p class="empty">You have no passkey yet.</p>'
    )
    if unable is not None:
        add = f'<div class="notice">{escape(unable)}</div>'
    else:
        add = (
            f'<form class="card enrol" method="post" action="{escape(base)}/passkeys" data-passkey-enrol '
            f'data-options="{escape(options or "")}"><input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<input type="hidden" name="nonce" value="{escape(nonce)}">'
            '<input type="hidden" name="credential" value="">'
            '<label for="passkey-name">Name of the new passkey</label>'
            '<input id="passkey-name" name="name" type="text" maxlength="64" placeholder="e.g. work laptop">'
            '<div class="actions"><button class="approve" type="submit">Add a passkey</button></div>'
            '<p class="passkey-status" hidden></p></form>'
        )
    body = (
        f"{note}{problem}<h1>Your passkeys</h1>"
        "<p>A passkey proves that you, on this device, approved exactly the request shown: its signature covers "
        "the request's facts and is checked again before anything is charged. Your approver secret still signs "
        "you in, and adds your first passkey; after that, only the server's operator can let you add or replace "
        "one (<code>polar-orders-mcp passkeys reset</code>), so that your secret alone does not add one.</p>"
        f"{listed}<h2>Add one</h2>{add}"
    )
    return page("Passkeys", body, approver=approver, csrf=csrf, base=base, script=unable is None)


def login(*, csrf: str, base: str, next_path: str, error: str | None, names: bool, provider: str | None = None) -> str:
    problem = f'<div class="error">{escape(error)}</div>' if error else ""
    name_field = (
        '<label for="name">Approver name</label><input id="name" name="name" type="text" autocomplete="username" '
        "required>"
        if names
        else ""
    )
    body = (
        "<h1>Sign in to approve</h1>"
        "<p>Approvals move money. Sign in with the approver secret this server was configured with; "
        "an AI agent never sees it.</p>"
        f'{problem}<form class="login card" method="post" action="{escape(base)}/login">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">{name_field}'
        '<label for="secret">Approver secret</label>'
        '<input id="secret" name="secret" type="password" autocomplete="current-password" required>'
        '<div class="actions"><button class="approve" type="submit">Sign in</button></div></form>'
    )
    if provider is not None:
        body += f'<p><a href="{escape(provider)}">Sign in with your organization\'s account</a></p>'
    return page("Sign in", body, base=base)


def message(title: str, text: str, *, base: str) -> str:
    return page(
        title, f'<h1>{escape(title)}</h1><p>{escape(text)}</p><p><a href="{escape(base)}">Approvals</a></p>', base=base
    )
