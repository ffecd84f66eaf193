"""Every tool a benchmark calls is served by the toolsets the benchmark starts our server with."""

from __future__ import annotations

import ast
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bench import task_steps

from polar_orders_mcp.server.app import select_tools
from polar_orders_mcp.settings import Settings
from polar_orders_mcp.tools.registry import ALL_TOOLS, CUSTOMER_TOOLS

ROOT = Path(__file__).resolve().parents[1]
TOOL_NAMES = {tool.name for tool in (*ALL_TOOLS, *CUSTOMER_TOOLS)}
# The tasks start one server per task with its own toolsets: checked task by task below.
PER_TASK = {"tasks.py", "task_steps.py"}
CALLERS = sorted(
    [path for path in (ROOT / "bench").glob("*.py") if path.name not in PER_TASK] + [ROOT / "scripts" / "soak.py"]
)


def served(toolsets: list[str], *, customer_mode: bool = False) -> set[str]:
    session = {"customer_session": "polar_cst_bench"} if customer_mode else {}
    return {tool.name for tool in select_tools(Settings(emulator=True, toolsets=toolsets, **session))}


def named_tools(tree: ast.Module) -> set[str]:
    """Our tool names the module's code spells out (calls name a tool by a string literal)."""
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in TOOL_NAMES}


def module_toolsets(tree: ast.Module) -> list[str]:
    """The module's TOOLSETS constant: what it passes to procs.ours_stdio_argv / ours_http (absent: default)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TOOLSETS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


@pytest.mark.parametrize("path", CALLERS, ids=lambda path: path.name)
def test_every_tool_a_benchmark_names_is_served_by_its_toolsets(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert named_tools(tree) - served(module_toolsets(tree)) == set()


def test_the_scale_benchmark_names_the_export_and_starts_the_reports_toolset() -> None:
    tree = ast.parse((ROOT / "bench" / "scale.py").read_text())
    assert ("export_orders" in named_tools(tree), module_toolsets(tree)) == (True, ["default", "reports"])


def called_code(fn: Callable[..., Any]) -> Iterator[types.CodeType]:
    """The code of `fn` and of every function of task_steps it calls, nested code included."""
    seen: set[types.CodeType] = set()
    stack = [fn.__code__]
    while stack:
        code = stack.pop()
        if code in seen:
            continue
        seen.add(code)
        yield code
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        for name in code.co_names:
            target = getattr(task_steps, name, None)
            if isinstance(target, types.FunctionType) and target.__module__ == task_steps.__name__:
                stack.append(target.__code__)


@pytest.mark.parametrize("task", task_steps.TASKS, ids=lambda task: task.key)
def test_every_tool_a_task_calls_on_this_tree_is_served_by_the_task_toolsets(task: task_steps.Task) -> None:
    names = {c for code in called_code(task.current) for c in code.co_consts if c in TOOL_NAMES}
    toolsets = ["default", *task_steps.CURRENT_TOOLSETS.get(task.key, [])]
    assert names and names - served(toolsets, customer_mode=task.customer_mode) == set()
