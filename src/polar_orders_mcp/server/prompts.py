"""The workflow prompts as the SDK's prompts: from cached argument lists when the code has not changed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt as SdkPrompt
from mcp.server.mcpserver.prompts.base import PromptArgument
from pydantic import validate_call

from polar_orders_mcp.prompts.workflows import PROMPTS, Prompt
from polar_orders_mcp.server.schema_cache import SchemaCache


def add_prompts(mcp: MCPServer[Any], schemas: SchemaCache | None = None) -> None:
    for prompt in PROMPTS:
        mcp.add_prompt(sdk_prompt(prompt, schemas))


def sdk_prompt(prompt: Prompt, schemas: SchemaCache | None = None) -> SdkPrompt:
    """The SDK derives a prompt's arguments with pydantic (an argument model, its JSON schema, a checked
    function): the list is kept in the cache, and the argument checks are built on the first use."""
    key = f"prompt:{prompt.fn.__module__}.{prompt.fn.__qualname__}"
    cached = schemas.entry(key) if schemas is not None else None
    if isinstance(cached, dict):
        return SdkPrompt(
            name=prompt.fn.__name__,
            title=prompt.title,
            description=prompt.fn.__doc__ or "",
            arguments=[PromptArgument.model_validate(argument) for argument in cached["arguments"]],
            fn=_checked_on_first_use(prompt.fn),
            context_kwarg=cached["context_kwarg"],
        )
    made = SdkPrompt.from_function(prompt.fn, title=prompt.title)
    if schemas is not None:
        arguments = [argument.model_dump() for argument in made.arguments or []]
        schemas.keep(key, {"arguments": arguments, "context_kwarg": made.context_kwarg})
    return made


def _checked_on_first_use(fn: Callable[..., str]) -> Callable[..., str]:
    """`fn` with its arguments checked as the SDK checks them (pydantic's validate_call), built on the first call."""
    checked: list[Callable[..., str]] = []

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> str:
        if not checked:
            checked.append(validate_call(fn))
        return checked[0](*args, **kwargs)

    return call
