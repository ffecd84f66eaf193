"""Standing approvals (mandates): whether an act fits one, and how one reads to people and agents.

A mandate is made by an approver in the approval console, never by a tool: nothing a model can call creates,
widens or extends one. Each act under it is checked against its terms here (who asks, the amount, the order's
age, product, customer and reason, as the preview read them from Polar) and against its budgets in the store,
atomically (store/mandates.py); an act that does not fit is asked about as any other, saying why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from polar_orders_mcp.approvals.policy import Caller
from polar_orders_mcp.money import money
from polar_orders_mcp.store.records import Mandate, MandateTerms, MandateUsage

DAY = 86_400.0


def misfit(
    mandate: Mandate,
    used: MandateUsage,
    *,
    facts: dict[str, Any],
    amount: int | None,
    currency: str | None,
    who: Caller,
    now: float,
) -> str | None:
    """Why this act does not fit `mandate` (the first constraint it misses), or None when it fits."""
    terms = mandate.terms
    if who.person is not None and who.person == mandate.created_by:
        # Maker and checker: a person's standing approval never covers what they ask themselves.
        return f"{mandate.created_by} signed it, and it never covers what its signer asks"
    if terms.for_client is not None and who.client != terms.for_client:
        return f"it is for the client {terms.for_client}, and {who.client} asked"
    if terms.for_person is not None and who.person != terms.for_person:
        return f"it is for {terms.for_person}, and {who.person or 'no signed-in person'} asked"
    if amount is None or currency is None:
        return "this act moves no amount it could count"
    if currency.lower() != terms.currency:
        return f"it is in {terms.currency.upper()}, and this act is in {currency.upper()}"
    shown = _shown(terms)
    if amount > terms.max_per_act:
        return f"{shown(amount)} is over its {shown(terms.max_per_act)} per act"
    if terms.max_acts is not None and used.acts + 1 > terms.max_acts:
        return f"its {terms.max_acts} acts are used"
    if terms.daily_acts is not None and used.acts_today + 1 > terms.daily_acts:
        return f"its {terms.daily_acts} acts a day are used"
    if terms.daily_budget is not None and used.today + amount > terms.daily_budget:
        return f"{shown(used.today)} of its {shown(terms.daily_budget)} a day is used, and this is {shown(amount)}"
    if terms.total_budget is not None and used.total + amount > terms.total_budget:
        return f"{shown(used.total)} of its {shown(terms.total_budget)} in all is used, and this is {shown(amount)}"
    return _target_misfit(terms, facts, now)


def _target_misfit(terms: MandateTerms, facts: dict[str, Any], now: float) -> str | None:
    if facts.get("unsettled_note"):
        # Polar may still be making an earlier request on this target: doing this one too may pay twice.
        return f"an earlier request on it has no answer from Polar yet ({facts['unsettled_note']}): a person weighs it"
    if facts.get("price_override"):
        # The price was set by a call, not by the merchant's catalogue: a person sees that before it is charged.
        return f"its price was set by hand ({facts['price_override']}): a person sees that first"
    if terms.max_order_age_days is not None:
        made = _timestamp(facts.get("order_created_at"))
        if made is None:
            return "it bounds the order's age, and this act's preview does not say when the order was made"
        age = (now - made) / DAY
        if age > terms.max_order_age_days:
            return f"the order is {age:.0f} days old, over its {terms.max_order_age_days} days"
    if terms.products and facts.get("product_id") not in terms.products:
        return f"the product {facts.get('product_id') or '(none)'} is not one of its products"
    if terms.customers:
        mine = {str(facts.get("customer_id") or ""), str(facts.get("customer_email") or "").lower()}
        if not mine & {c.lower() if "@" in c else c for c in terms.customers}:
            return "the customer is not one of its customers"
    if terms.reasons and facts.get("reason") not in terms.reasons:
        return f"the reason {facts.get('reason') or '(none)'} is not one of its reasons ({', '.join(terms.reasons)})"
    return None


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _shown(terms: MandateTerms) -> Any:
    return lambda minor: money(minor, terms.currency)


def left_text(mandate: Mandate, used: MandateUsage) -> str:
    """What is left of a mandate, as people and agents read it."""
    left = used.left(mandate.terms)
    shown = _shown(mandate.terms)
    parts = []
    if left["acts_today"] is not None:
        parts.append(f"{left['acts_today']} acts today")
    if left["acts"] is not None:
        parts.append(f"{left['acts']} acts")
    if left["daily"] is not None:
        parts.append(f"{shown(left['daily'])} today")
    if left["total"] is not None:
        parts.append(f"{shown(left['total'])} in all")
    return ", ".join(parts) or "no budget besides its per-act maximum"


def terms_text(terms: MandateTerms) -> str:
    """The terms in one line, e.g. "create_refund up to $20.00 each, $100.00 a day, 10 acts, orders under 30 days"."""
    shown = _shown(terms)
    parts = [f"{', '.join(terms.tools)} up to {shown(terms.max_per_act)} each"]
    if terms.daily_budget is not None:
        parts.append(f"{shown(terms.daily_budget)} a day")
    if terms.total_budget is not None:
        parts.append(f"{shown(terms.total_budget)} in all")
    if terms.daily_acts is not None:
        parts.append(f"at most {terms.daily_acts} acts a day")
    if terms.max_acts is not None:
        parts.append(f"at most {terms.max_acts} acts")
    if terms.max_order_age_days is not None:
        parts.append(f"orders under {terms.max_order_age_days} days old")
    if terms.products:
        parts.append(f"products {', '.join(terms.products)}")
    if terms.customers:
        parts.append(f"customers {', '.join(terms.customers)}")
    if terms.reasons:
        parts.append(f"reasons {', '.join(terms.reasons)}")
    if terms.for_client is not None:
        parts.append(f"for the client {terms.for_client}")
    if terms.for_person is not None:
        parts.append(f"for {terms.for_person}")
    return "; ".join(parts)
