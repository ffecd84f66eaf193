"""`polar-orders-mcp demo`: a real MCP client session over stdio against the server on the emulator."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters

from polar_orders_mcp.approvals.preview import Typed
from polar_orders_mcp.approvals.render import shown_as
from polar_orders_mcp.stderr import say as _say

WIDTH = 96


def _step(title: str) -> None:
    _say()
    _say(f"── {title} " + "─" * max(0, WIDTH - len(title) - 4))


def _show(data: Any, keys: tuple[str, ...] | None = None) -> None:
    if keys is not None and isinstance(data, dict):
        data = {k: data[k] for k in keys if k in data}
    for line in json.dumps(data, indent=2, ensure_ascii=False).splitlines():
        _say("   " + line)


async def _call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    shown = ", ".join(f"{k}={v!r}" if len(repr(v)) < 50 else f"{k}={repr(v)[:47]}…'" for k, v in args.items())
    _say(f"→ {tool}({shown})")
    result = await client.call_tool(tool, args)
    if result.is_error:
        text = " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
        _say("← error:")
        for line in textwrap.wrap(text, WIDTH - 5):
            _say("   " + line)
        return {}
    return dict(result.structured_content or {})


async def _human_accepts(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert isinstance(params, types.ElicitRequestFormParams)
    _say("   [the client shows the human this confirmation]")
    for line in params.message.splitlines():
        _say("   │ " + line)
    [(name, field)] = params.requested_schema["properties"].items()
    typed = shown_as(params.message, Typed.row_of(str(field.get("description", "")))) or ""
    _say(f"   [the human types {typed} in the form's {field.get('title', name)} field and clicks Accept]")
    return types.ElicitResult(action="accept", content={name: typed})


async def _person_approves(link: str, secret: str) -> None:
    """What a person does in a browser: open the link, sign in with the approver secret, click Approve."""
    import re

    import httpx2

    base = link.split("/approvals/")[0]
    console = link.rpartition("/")[0].removeprefix(base)  # /approvals/<this run's own segment>
    async with httpx2.AsyncClient(base_url=base, follow_redirects=False, timeout=10) as browser:
        login = await browser.get(f"{console}/login")
        csrf = re.search(r'name="csrf" value="([^"]*)"', login.text)
        assert csrf, "the console's sign-in page has no form"
        await browser.post(
            f"{console}/login",
            data={"csrf": csrf.group(1), "next": console, "secret": secret},
            headers={"Origin": base},
        )
        page = await browser.get(link.removeprefix(base))
        shown = re.sub(r"<[^>]+>", " ", page.text.split("<main>")[1].split("</form>")[0])
        _say("   [the person signs in to the approval console and sees]")
        for line in textwrap.wrap(" ".join(shown.split()), WIDTH - 8)[:6]:
            _say("   │ " + line)
        csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert csrf, "the request's page has no decision form"
        decided = await browser.post(
            link.removeprefix(base), data={"csrf": csrf.group(1), "decision": "approve"}, headers={"Origin": base}
        )
        _say(f"   [the person clicks Approve: {'done' if decided.status_code == 303 else decided.status_code}]")


async def _session(folder: Path) -> None:
    # The server's audit lines go to a file, shown at the end, instead of into the transcript; the
    # approver's secret is the person's, passed to the server in its environment, never to the model.
    audit_log = folder / "audit.jsonl"
    approver_secret = secrets.token_urlsafe(16)
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "polar_orders_mcp",
            "serve",
            "--emulator",
            "--audit-log",
            str(audit_log),
            "--state-dir",
            str(folder / "state"),
            "--approvals-port",
            "0",
            "--approval-wait",
            "0",
        ],
        env={**os.environ, "POLAR_MCP_APPROVER_TOKEN": approver_secret},
    )
    _say("polar-orders-mcp demo: an MCP client talking to the server over stdio; the server runs")
    _say("on the embedded Polar emulator (no account, no network).")

    async with Client(params, mode="legacy") as client:
        tools = await client.list_tools()
        _step(f"The server offers {len(tools.tools)} tools")
        for tool in tools.tools:
            hints = tool.annotations
            kind = (
                "read-only"
                if hints and hints.read_only_hint
                else ("IRREVERSIBLE" if hints and hints.destructive_hint else "write")
            )
            _say(f"   {tool.name:<18} {kind}")

        _step("List the newest orders")
        listing = await _call(client, "list_orders", {"limit": 5})
        _say(f"← {listing['total_count']} orders in all; the newest {len(listing['items'])}:")
        for o in listing["items"]:
            _say(f"   {o['id']}  {o['status']:<18} {o['total']:>10}  {o['customer_supplied']['email']}")

        _step("Inspect one order")
        order = await _call(client, "get_order", {"order_id": listing["items"][0]["id"]})
        _show(order, ("id", "status", "total", "customer_id", "product", "invoice_generated", "receipt_number"))

        drafts = await _find_drafts(client)
        good, declining = drafts["good"], drafts["declining"]

        _step("Create a checkout link for a product")
        product_id = order["product"]["id"]
        checkout = await _call(
            client, "create_checkout", {"products": [product_id], "customer_email": "buyer@example.com"}
        )
        _show(checkout, ("id", "status", "url", "total", "expires_at"))

        _step("Finalize a draft order: the first call only asks a person; nothing is charged")
        first = await _call(client, "finalize_order", {"order_id": good["id"]})
        _show(first["preview"], ("summary", "amount_display", "customer_email", "product", "payment_method"))
        approval = first["approval"]
        _say(f"   status: {first['status']}; a person approves at {approval['approve_at']}")

        _step("A person approves it in the approval console (the model never sees the approver secret)")
        await _person_approves(approval["approve_at"], approver_secret)

        _step("The agent calls again with the approval_id: now it charges")
        second = await _call(client, "finalize_order", {"order_id": good["id"], "approval_id": approval["approval_id"]})
        _say(
            f"← {second['status']}: order {second['order']['id']} is now {second['order']['status']}, "
            f"{second['order']['total']} charged to {second['preview']['payment_method']}"
        )

        _step("Fetch its receipt")
        receipt = await _call(client, "get_receipt", {"order_id": good["id"]})
        _show(receipt, ("state", "url"))

        _step("The model replays the approval: refused, nothing charged")
        await _call(client, "finalize_order", {"order_id": good["id"], "approval_id": approval["approval_id"]})

    async with Client(params, mode="legacy", elicitation_callback=_human_accepts) as client:
        _step("A client that can ask the person directly: a declining card")
        await _call(client, "finalize_order", {"order_id": declining["id"]})
        after = await _call(client, "get_order", {"order_id": declining["id"]})
        _say(f"← order {after['id']} is still {after['status']}: nothing was charged.")
    _step("The audit: one hash-chained record per write or irreversible call, no secret in it")
    for line in audit_log.read_text().splitlines():
        entry = json.loads(line)
        _say(
            f"   {entry['seq']:>3} {entry['time'][11:23]}  {entry['tool']:<16} {entry['target'] or '(new)':<36}  "
            f"{entry.get('channel', ''):<8} {entry['outcome']}"
        )
    verify = subprocess.run(
        [sys.executable, "-m", "polar_orders_mcp", "audit", "verify", "--state-dir", str(folder / "state")],
        capture_output=True,
        text=True,
        check=False,
    )
    _say(f"→ polar-orders-mcp audit verify\n← {verify.stdout.strip() or verify.stderr.strip()}")
    _say()
    _say("Demo complete.")


async def _find_drafts(client: Client) -> dict[str, dict[str, Any]]:
    """Draft orders to charge: one whose customer's card works, one whose card declines."""
    found: dict[str, dict[str, Any]] = {}
    page: int | None = 1
    while page and len(found) < 2:
        listing = (await client.call_tool("list_orders", {"limit": 100, "page": page})).structured_content or {}
        for o in listing.get("items", []):
            email = o["customer_supplied"]["email"] or ""
            if o["status"] == "draft" and "declin" in email:
                found.setdefault("declining", o)
            elif o["status"] == "draft" and email.startswith("good"):
                found.setdefault("good", o)
        page = listing.get("next_page")
    return found


def run_demo() -> int:
    try:
        with tempfile.TemporaryDirectory() as folder:
            anyio.run(_session, Path(folder))
    except KeyError as exc:
        _say(f"demo: the emulator's seed lacks the expected draft order: {exc}")
        return 1
    return 0
