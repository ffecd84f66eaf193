"""A person at the client's screen answering a confirmation form: they read the facts and type what it asks."""

from __future__ import annotations

import mcp_types as types

from polar_orders_mcp.approvals.preview import Typed
from polar_orders_mcp.approvals.render import shown_as


def typed_yes(params: types.ElicitRequestParams) -> types.ElicitResult:
    """Approve as a reader of the facts does: type what they show for the fact the form's one field names."""
    assert isinstance(params, types.ElicitRequestFormParams), params
    [(name, field)] = params.requested_schema["properties"].items()
    row = Typed.row_of(field["description"])
    shown = shown_as(params.message, row)
    assert shown is not None, f"no row {row!r} in the confirmation:\n{params.message}"
    return types.ElicitResult(action="accept", content={name: shown})


def typed(params: types.ElicitRequestParams, text: str) -> types.ElicitResult:
    """Accept the form with `text` typed in its one field, whatever the facts say."""
    assert isinstance(params, types.ElicitRequestFormParams), params
    [name] = params.requested_schema["properties"]
    return types.ElicitResult(action="accept", content={name: text})


async def person(_ctx: object, params: types.ElicitRequestParams) -> types.ElicitResult:
    """An elicitation callback: a person who reads every confirmation and approves it."""
    return typed_yes(params)
