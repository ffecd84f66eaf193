"""The console's pages for standing approvals (mandates): the list with its history, the form, the Sign step.

Every value is escaped here, the terms a person typed included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import tzinfo
from html import escape

from polar_orders_mcp.approvals.mandate_form import FIELDS, MAX_HOURS, MIN_HOURS, REASONS, Posted
from polar_orders_mcp.approvals.mandates import left_text, terms_text
from polar_orders_mcp.approvals.pages import PasskeyAsk, Titles, page, when
from polar_orders_mcp.money import money
from polar_orders_mcp.store.records import Mandate, MandateTerms, MandateUsage

STATES = {"active": "Active", "revoked": "Revoked", "expired": "Expired"}
CSS = (
    "<style>fieldset{border:1px solid var(--line);border-radius:8px;margin:12px 0;padding:8px 14px}"
    "fieldset label{display:inline-flex;gap:6px;font-weight:500;margin:4px 14px 4px 0}"
    ".field-error{color:var(--no);font-size:14px;margin-top:4px}.hint{color:var(--muted);font-size:14px}"
    "textarea{width:100%;font:inherit;padding:10px 12px;border:1px solid var(--line);border-radius:8px}</style>"
)


def terms_rows(terms: MandateTerms, titles: Titles) -> str:
    """Each term on a line of its own, escaped; each tool by its title too."""

    def shown(minor: int | None) -> str:
        return money(minor, terms.currency) if minor is not None else "no limit"

    rows = [
        ("Tools", ", ".join(f"{titles.get(t, t)} ({t})" for t in terms.tools)),
        ("Currency", terms.currency.upper()),
        ("At most per act", shown(terms.max_per_act)),
        ("Budget a day", shown(terms.daily_budget)),
        ("Budget in all", shown(terms.total_budget)),
        ("Acts a day at most", str(terms.daily_acts) if terms.daily_acts is not None else "no limit"),
        ("Acts at most", str(terms.max_acts) if terms.max_acts is not None else "no limit"),
        ("Orders at most", f"{terms.max_order_age_days} days old" if terms.max_order_age_days else "any age"),
        ("Products", ", ".join(terms.products) or "any"),
        ("Customers", ", ".join(terms.customers) or "any"),
        ("Refund reasons", ", ".join(terms.reasons) or "any"),
        ("For the client", terms.for_client or "any client"),
        ("For the person", terms.for_person or "anyone"),
        ("Note", terms.note or "—"),
    ]
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"


def _signed(mandate: Mandate, zone: tzinfo) -> str:
    how = " with a passkey" if mandate.proof else ""
    return f"Signed by <strong>{escape(mandate.created_by)}</strong>{how} at {when(mandate.created_at, zone)}"


def _card(
    mandate: Mandate, used: MandateUsage, now: float, *, csrf: str, base: str, zone: tzinfo, titles: Titles
) -> str:
    terms = mandate.terms
    spent = f"{used.acts} acts, {money(used.total, terms.currency)} in all, {money(used.today, terms.currency)} today"
    return (
        f'<section class="card mandate" id="{escape(mandate.id)}"><div class="kind">Standing approval '
        f'{escape(mandate.id)}</div><div class="summary"><strong>{escape(terms_text(terms))}</strong></div>'
        f"{terms_rows(terms, titles)}"
        f'<div class="meta">{_signed(mandate, zone)} · expires {when(mandate.expires_at, zone)}</div>'
        f'<div class="meta">Used: {escape(spent)} · left: {escape(left_text(mandate, used))}</div>'
        f'<form class="actions" method="post" action="{escape(base)}/mandates/revoke">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="mandate_id" value="{escape(mandate.id)}">'
        '<button class="deny revoke" type="submit">Revoke</button></form></section>'
    )


def _history_row(mandate: Mandate, used: MandateUsage, now: float, zone: tzinfo) -> str:
    state = mandate.state_at(now)
    ended = (
        f"revoked by {escape(mandate.revoked_by or '')} at {when(mandate.revoked_at, zone)}"
        if state == "revoked"
        else f"expired at {when(mandate.expires_at, zone)}"
    )
    return (
        f'<tr id="{escape(mandate.id)}"><td>{escape(mandate.id)}</td><td>{escape(terms_text(mandate.terms))}</td>'
        f'<td class="opt">{_signed(mandate, zone)}</td>'
        f"<td>{escape(STATES[state])}: {ended}</td>"
        f'<td class="num">{used.acts} acts, {escape(money(used.total, mandate.terms.currency))}</td></tr>'
    )


def mandates(
    listed: Sequence[tuple[Mandate, MandateUsage]],
    now: float,
    *,
    approver: str,
    csrf: str,
    base: str,
    zone: tzinfo,
    notice: str | None = None,
    error: str | None = None,
    titles: Titles | None = None,
) -> str:
    """The active standing approvals, each with Revoke, then the revoked and expired ones."""
    active = [(m, u) for m, u in listed if m.state_at(now) == "active"]
    ended = [(m, u) for m, u in listed if m.state_at(now) != "active"]
    cards = "".join(_card(m, u, now, csrf=csrf, base=base, zone=zone, titles=titles or {}) for m, u in active)
    rows = "".join(_history_row(m, u, now, zone) for m, u in ended)
    history = (
        '<table><thead><tr><th>Id</th><th>Terms</th><th class="opt">Signed</th><th>Ended</th><th>Used</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
        if rows
        else '<p class="empty">None has ended yet.</p>'
    )
    body = (
        (f'<div class="notice">{escape(notice)}</div>' if notice else "")
        + (f'<div class="error">{escape(error)}</div>' if error else "")
        + "<h1>Standing approvals</h1><p>A standing approval lets agents do what fits its terms without asking "
        "anyone, until it is revoked or expires; every act under it is recorded in the audit, and anything that "
        "does not fit is asked about as usual. Only a person signed in here makes one.</p>"
        f'<p><a class="approve-link" href="{escape(base)}/mandates/new">New standing approval</a></p>'
        + (cards or '<p class="empty">No standing approval is active.</p>')
        + f"<h2>Revoked and expired</h2>{history}"
    )
    return page("Standing approvals", body, approver=approver, csrf=csrf, base=base)


def _input(posted: Posted, name: str, label: str, errors: Mapping[str, str], *, hint: str = "") -> str:
    error = f'<div class="field-error">{escape(errors[name])}</div>' if name in errors else ""
    said = f' <span class="hint">{escape(hint)}</span>' if hint else ""
    return (
        f'<label for="f-{name}">{escape(label)}{said}</label>'
        f'<input id="f-{name}" name="{name}" type="text" value="{escape(posted.value(name))}">{error}'
    )


def _boxes(
    name: str, legend: str, options: Sequence[tuple[str, str]], ticked: Sequence[str], errors: Mapping[str, str]
) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" name="{name}" value="{escape(value)}"'
        f"{' checked' if value in ticked else ''}>{escape(text)}</label>"
        for value, text in options
    )
    error = f'<div class="field-error">{escape(errors[name])}</div>' if name in errors else ""
    return f"<fieldset><legend>{escape(legend)}</legend>{boxes}{error}</fieldset>"


def form(
    posted: Posted,
    errors: Mapping[str, str],
    *,
    tools: Sequence[str],
    limit_note: str,
    approver: str,
    csrf: str,
    base: str,
    titles: Titles | None = None,
) -> str:
    """The form for a new standing approval, filled in as posted, each field's problem beside it."""
    problem = '<div class="error">Nothing was made: correct what is marked below.</div>' if errors else ""
    note_error = f'<div class="field-error">{escape(errors["note"])}</div>' if "note" in errors else ""
    fields = "".join(
        [
            _boxes(
                "tools",
                "Tools it allows",
                [(t, f"{(titles or {}).get(t, t)} ({t})") for t in tools],
                posted.tools,
                errors,
            ),
            _input(posted, "currency", "Currency", errors, hint="three letters, e.g. USD"),
            _input(posted, "max_per_act", "At most per act", errors, hint=limit_note),
            _input(posted, "daily_budget", "Budget a day", errors, hint="optional, e.g. 100.00"),
            _input(posted, "total_budget", "Budget in all", errors, hint="optional"),
            _input(posted, "daily_acts", "Acts a day at most", errors, hint="optional, in any 24 hours"),
            _input(posted, "max_acts", "Acts at most", errors, hint="optional, a whole number, in all"),
            _input(
                posted,
                "max_order_age_days",
                "Orders at most this many days old",
                errors,
                hint="optional; refunds read the order's age",
            ),
            _input(posted, "products", "Product ids", errors, hint="optional, separated by commas"),
            _input(posted, "customers", "Customer ids or emails", errors, hint="optional, separated by commas"),
            _boxes(
                "reasons",
                "Refund reasons (none ticked: any)",
                [(r, r.replace("_", " ")) for r in REASONS],
                posted.reasons,
                errors,
            ),
            _input(
                posted, "for_client", "Only for the client", errors, hint="optional: its name as the audit shows it"
            ),
            _input(posted, "for_person", "Only for the person", errors, hint="optional: who the client acts for"),
            _input(posted, "hours", "Lasts this many hours", errors, hint=f"{MIN_HOURS} to {MAX_HOURS} (90 days)"),
            f'<label for="f-note">Note</label><textarea id="f-note" name="note" rows="2" maxlength="500">'
            f"{escape(posted.value('note'))}</textarea>{note_error}",
        ]
    )
    body = (
        f"{CSS}<h1>New standing approval</h1>{problem}"
        "<p>Agents will do what fits these terms without asking anyone until it expires or you revoke it. "
        "The next step shows the terms in full before you sign them.</p>"
        f'<form class="card mandate-form" method="post" action="{escape(base)}/mandates/new">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">{fields}'
        '<div class="actions"><button class="approve" type="submit">Review the terms</button></div></form>'
        f'<p><a href="{escape(base)}/mandates">Standing approvals</a></p>'
    )
    return page("New standing approval", body, approver=approver, csrf=csrf, base=base)


def confirm(
    terms: MandateTerms,
    posted: Posted,
    *,
    digest: str,
    nonce: str,
    hours: int,
    passkey: PasskeyAsk | None,
    approver: str,
    csrf: str,
    base: str,
    titles: Titles | None = None,
) -> str:
    """The terms in full and Sign: with the approver's passkey when `passkey` is given (or why it cannot be)."""
    carried = "".join(
        f'<input type="hidden" name="{name}" value="{escape(posted.value(name))}">' for name in FIELDS
    ) + "".join(
        f'<input type="hidden" name="{name}" value="{escape(value)}">'
        for name, values in (("tools", posted.tools), ("reasons", posted.reasons))
        for value in values
    )
    action = f"{escape(base)}/mandates/sign"
    common = (
        f'<input type="hidden" name="csrf" value="{escape(csrf)}"><input type="hidden" name="nonce" '
        f'value="{escape(nonce)}"><input type="hidden" name="digest" value="{escape(digest)}">{carried}'
    )
    if passkey is None:
        sign = (
            f'<form class="actions" method="post" action="{action}">{common}'
            '<button class="approve sign" type="submit">Sign</button></form>'
        )
    elif passkey.unable is not None:
        sign = f'<div class="notice">{escape(passkey.unable)}</div>'
    else:
        sign = (
            f'<form class="actions" method="post" action="{action}" data-passkey-approve '
            f'data-rp-id="{escape(passkey.rp_id)}" data-challenge="{escape(passkey.challenge)}" '
            f'data-credentials="{escape(" ".join(passkey.credentials))}">{common}'
            '<input type="hidden" name="assertion" value="">'
            '<button class="approve sign" type="submit">Sign with passkey</button></form>'
            '<p class="passkey-status" hidden></p>'
        )
    body = (
        "<h1>Sign this standing approval</h1>"
        f'<section class="card pending"><div class="summary"><strong>{escape(terms_text(terms))}</strong></div>'
        f"{terms_rows(terms, titles or {})}"
        f'<div class="meta">Lasts {hours} hours from signing, unless revoked. Signed by you, '
        f"{escape(approver)}; terms digest {escape(digest[:16])}…</div>{sign}</section>"
        f'<p><a href="{escape(base)}/mandates/new">Start again</a> · '
        f'<a href="{escape(base)}/mandates">Standing approvals</a></p>'
    )
    script = passkey is not None and passkey.unable is None
    return page("Sign a standing approval", body, approver=approver, csrf=csrf, base=base, script=script)
