"""Hostile ids in place of each id parameter of every tool never reach the emulator at all.

The rig is the one of test_hostile_input.py (an emulator behind a recorder of every request, a server per
mode, a client per era), built again for this module: the two halves run on separate workers.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.properties.test_hostile_input import HOSTILE, TOOLS, Rig, assert_clean
from tests.properties.test_hostile_input import rig as rig  # the module fixture, one rig for this module


def id_parameters(schema: dict[str, Any]) -> list[str]:
    """The parameters that name an object, and so may end up in a URL path."""
    found = []
    for name, sub in schema.get("properties", {}).items():
        items = sub.get("items", {})
        if sub.get("format") == "uuid" or "polar_c_" in sub.get("pattern", "") or items.get("format") == "uuid":
            found.append(name)
    return found


def baseline(rig: Rig, mode: str, tool: str) -> dict[str, Any]:
    """Arguments that pass validation: a real id for every required id, "x" for other required text."""
    schema = rig.schemas[(mode, tool)]
    args: dict[str, Any] = {}
    for name in schema.get("required", []):
        sub = schema["properties"][name]
        if sub.get("type") == "array":
            args[name] = [rig.ids[0]]
        elif "polar_c_" in sub.get("pattern", ""):
            args[name] = rig.secrets[0]
        else:
            args[name] = rig.ids[0] if sub.get("format") == "uuid" else "x"
    return args


def hostile_ids(real: str) -> list[str]:
    """Hostile strings, and near misses of a real id (a UUID or a client secret)."""
    return [
        *HOSTILE,
        f"{real}\n",
        f" {real}",
        f"{real} ",
        f"{real}/../../customers",
        f"{real}/confirm",
        f"{real}?x=1",
        f"{real}#",
        f"{real}%00",
        f"{real}\u200b",
        f"\u202e{real}",
        f"{real}\x00",
        f"../{real}",
        real[:-1] + "/",
        real.replace("-", "/") if "-" in real else real + "/x",
    ]


@pytest.mark.parametrize(("mode", "tool"), TOOLS)
def test_hostile_ids_never_reach_polar(rig: Rig, mode: str, tool: str) -> None:
    schema = rig.schemas[(mode, tool)]
    names = id_parameters(schema)
    if not names:
        pytest.skip(f"{tool} takes no id")
    for name in names:
        for era in ("auto", "legacy"):
            real = rig.secrets[0] if "polar_c_" in schema["properties"][name].get("pattern", "") else rig.ids[0]
            for bad in hostile_ids(real):
                args = baseline(rig, mode, tool)
                args[name] = [bad] if schema["properties"][name].get("type") == "array" else bad
                rig.recorder.seen.clear()
                result = rig.call(mode, era, tool, args)
                assert result.is_error, f"{tool} accepted {name}={bad!r}"
                assert_clean(result, tool, args)
                assert not rig.recorder.seen, f"{tool}({name}={bad!r}) reached Polar: {rig.recorder.seen}"
