"""4. Context cost: the bytes an agent's context window pays for tools/list, get_order and list_orders."""

from __future__ import annotations

import json
import re
import statistics
from datetime import datetime
from typing import Any

import httpx2

from bench import procs as p
from bench import rpc

BYTES_PER_TOKEN = 4
LIST_LIMIT = 50
MODEL_VISIBLE = ("name", "description", "inputSchema")


def size(value: Any) -> int:
    """Bytes of a JSON value written compactly (UTF-8): framing and indentation choices don't count."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def tools_list(result: dict[str, Any]) -> dict[str, Any]:
    tools = result["tools"]
    visible = [size({k: t[k] for k in MODEL_VISIBLE if k in t}) for t in tools]
    whole = [size(t) for t in tools]
    return {
        "tools": len(tools),
        "description_bytes": sum(len(t.get("description", "").encode()) for t in tools),
        "input_schema_bytes": sum(size(t.get("inputSchema", {})) for t in tools),
        "whole_bytes": size(result),
        "visible_bytes": sum(visible),
        "whole_per_tool": size(result) / len(tools),
        "visible_per_tool": sum(visible) / len(tools),
        "visible_per_tool_median": statistics.median(visible),
        "whole_per_tool_median": statistics.median(whole),
        "largest": sorted(((v, t["name"]) for v, t in zip(visible, tools, strict=True)), reverse=True)[:3],
    }


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def tool_result(result: dict[str, Any]) -> dict[str, Any]:
    """`text`: what a client passes to the model (the text content); `whole`: the result on the wire."""
    texts = [c["text"] for c in result.get("content", []) if c.get("type") == "text"]
    structured = result.get("structuredContent")
    return {
        "whole": size(result),
        "text": sum(len(t.encode()) for t in texts),
        "text_uuid_bytes": sum(len(m) for t in texts for m in UUID.findall(t)),
        "structured": size(structured) if structured is not None else None,
    }


def text_json(result: dict[str, Any]) -> Any:
    return json.loads(next(c["text"] for c in result["content"] if c.get("type") == "text"))


def _same_time(a: str, b: str) -> bool:
    return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b.replace("Z", "+00:00"))


def support_fields(summary: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Every fact a support agent needs, present in our summary and equal to Polar's own value."""
    customer, product = raw.get("customer") or {}, raw.get("product") or {}
    address = raw.get("billing_address") or {}
    supplied = summary.get("customer_supplied", {})
    invoice_number = summary.get("invoice_number") or summary.get("reserved_invoice_number")
    checks = {
        "id": summary.get("id") == raw["id"],
        "status": summary.get("status") == raw["status"],
        "created_at": _same_time(summary.get("created_at", ""), raw["created_at"]),
        "customer id": summary.get("customer_id") == raw["customer_id"],
        "customer email": supplied.get("email") == customer.get("email"),
        "customer name": supplied.get("name") == customer.get("name"),
        "product id": summary.get("product", {}).get("id") == raw["product_id"],
        "product name": summary.get("product", {}).get("name") == product.get("name"),
        "description": supplied.get("description") == raw.get("description"),
        "currency": summary.get("currency") == raw["currency"],
        "total amount": summary.get("total_amount") == raw["total_amount"],
        "total for humans": isinstance(summary.get("total"), str) and bool(summary["total"]),
        "tax amount": summary.get("tax_amount") == raw["tax_amount"],
        "refunded amount": summary.get("refunded_amount") == raw["refunded_amount"],
        # A row leaves a plain purchase's reason out (it says so); get_order gives it always.
        "billing reason": summary.get("billing_reason", "purchase") == raw.get("billing_reason"),
        "billing name": supplied.get("billing_name") == raw.get("billing_name"),
        "billing address": all(str(v) in (supplied.get("billing_address") or "") for v in address.values() if v),
        "invoice generated": summary.get("invoice_generated") == raw.get("is_invoice_generated"),
        "invoice number": invoice_number == raw.get("invoice_number"),
        "receipt number": summary.get("receipt_number") == raw.get("receipt_number"),
        "subscription": summary.get("subscription_id") == raw.get("subscription_id"),
        "checkout": summary.get("checkout_id") == raw.get("checkout_id"),
        "metadata": supplied.get("metadata", {}) == {k: str(v) for k, v in (raw.get("metadata") or {}).items()},
    }
    return {"checked": len(checks), "missing": sorted(name for name, ok in checks.items() if not ok)}


LEAN_FACTS = (
    "id",
    "status",
    "created_at",
    "customer id",
    "customer email",
    "product name",
    "currency",
    "total amount",
    "total for humans",
)
ALL_ROW_FIELDS = ["product_id", "tax", "refunds", "billing", "documents", "links", "customer_name", "notes"]


def as_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A list row in get_order's shape (product as {id, name}), so the same facts can be checked on it."""
    return {
        **row,
        "product": {"id": row.get("product_id"), "name": row.get("product")},
        "customer_supplied": {"metadata": {}, **row.get("customer_supplied", {})},
    }


def row_fields(row: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The facts a lean list row promises (ids, status, date, amount and its display form, customer email,
    product name), each equal to Polar's own value."""
    checked = support_fields(as_summary(row), raw)
    missing = [name for name in checked["missing"] if name in LEAN_FACTS]
    return {"checked": len(LEAN_FACTS), "missing": missing}


def run(procs: p.Processes, emulator_url: str) -> dict[str, Any]:
    api = httpx2.Client(
        base_url=emulator_url, headers={"authorization": f"Bearer {p.ORG_TOKEN}", "polar-version": "2026-10"}
    )
    try:
        raw_list = api.get("/v1/orders/", params={"limit": LIST_LIMIT}).json()
        paid = next(o for o in raw_list["items"] if o["status"] == "paid" and o.get("billing_address"))
        raw_order = api.get(f"/v1/orders/{paid['id']}").json()
    finally:
        api.close()
    ours = procs.stdio("context-ours", procs.ours_stdio_argv(), procs.ours_env(emulator_url))
    polar = procs.stdio("context-polar", procs.polar_stdio_argv(emulator_url), p.clean_env())
    ours_tools = rpc.check(ours.request("tools/list"))
    polar_tools = rpc.check(polar.request("tools/list"))
    ours_get = ours.call("get_order", {"order_id": paid["id"]})
    polar_get = polar.call("orders-get", {"request": {"id": paid["id"]}})
    ours_list = ours.call("list_orders", {"limit": LIST_LIMIT})
    polar_list = polar.call("orders-list", {"request": {"limit": LIST_LIMIT}})
    listed = text_json(ours_list)["items"]
    every_field = text_json(ours.call("list_orders", {"limit": LIST_LIMIT, "fields": ALL_ROW_FIELDS}))["items"]
    # get_order and rows with every field carry every fact; a lean row carries the facts it promises.
    coverage = [support_fields(text_json(ours_get), raw_order)]
    coverage += [support_fields(as_summary(s), r) for s, r in zip(every_field, raw_list["items"], strict=True)]
    coverage += [row_fields(s, r) for s, r in zip(listed, raw_list["items"], strict=True)]
    result: dict[str, Any] = {
        "bytes_per_token": BYTES_PER_TOKEN,
        "list_limit": LIST_LIMIT,
        "tools_list": {"ours": tools_list(ours_tools), "polar": tools_list(polar_tools)},
        "get_order": {"raw": size(raw_order), "ours": tool_result(ours_get), "polar": tool_result(polar_get)},
        "list_orders": {
            "raw": size(raw_list),
            "ours": tool_result(ours_list),
            "polar": tool_result(polar_list),
            "orders": len(listed),
        },
        "support_fields": {
            "checked_per_order": coverage[0]["checked"],
            "orders_checked": len(coverage),
            "missing": sorted({m for c in coverage for m in c["missing"]}),
        },
        "sample_get_order_text": next(c["text"] for c in ours_get["content"] if c.get("type") == "text"),
    }
    t = result["tools_list"]
    result["ratios"] = {
        "tools_list visible per tool ours/polar": t["ours"]["visible_per_tool"] / t["polar"]["visible_per_tool"],
        "tools_list whole per tool ours/polar": t["ours"]["whole_per_tool"] / t["polar"]["whole_per_tool"],
        "tools_list visible total ours/polar": t["ours"]["visible_bytes"] / t["polar"]["visible_bytes"],
        "get_order text ours/raw": result["get_order"]["ours"]["text"] / result["get_order"]["raw"],
        "get_order text ours/polar": result["get_order"]["ours"]["text"] / result["get_order"]["polar"]["text"],
        "list_orders text ours/raw": result["list_orders"]["ours"]["text"] / result["list_orders"]["raw"],
        "list_orders text ours/polar": result["list_orders"]["ours"]["text"] / result["list_orders"]["polar"]["text"],
        "get_order whole ours/raw": result["get_order"]["ours"]["whole"] / result["get_order"]["raw"],
        "list_orders whole ours/raw": result["list_orders"]["ours"]["whole"] / result["list_orders"]["raw"],
    }
    return result
