// Preloaded into Polar's MCP server (`node --require`): keeps it on loopback, and lets its SDK read
// the emulator's orders.
//
// Its SSE transport listens on 0.0.0.0 with no option to change it: `listen` is pointed at 127.0.0.1.
//
// @polar-sh/sdk 0.36.2 was generated for Polar's API before the 2026-10 version the emulator serves,
// and sends no Polar-Version header. Its response schemas reject every 2026-10 order ("Response
// validation failed"): they require `user_id` (gone in 2026-10), a non-null `customer.avatar_url`
// and `invoice_number` (null for drafts), and know neither the `draft` nor the `void` status.
// This preload rewrites JSON answers from loopback into that older shape: `user_id` = `customer_id`,
// those nulls as "", and `draft`/`void` as `pending`. It times itself and prints the total to
// stderr on exit, so the benchmark can report what it added to Polar's side.
"use strict";

const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[1] === "0.0.0.0" || args[1] === "::") args[1] = "127.0.0.1";
  return listen.apply(this, args);
};

const original = globalThis.fetch;
let calls = 0;
let millis = 0;

function adapt(value) {
  if (Array.isArray(value)) {
    for (const item of value) adapt(item);
    return;
  }
  if (value === null || typeof value !== "object") return;
  if ("customer_id" in value && "total_amount" in value && "billing_reason" in value) {
    // An order.
    if (!("user_id" in value)) value.user_id = value.customer_id;
    if (value.invoice_number === null) value.invoice_number = "";
    if (value.status === "draft" || value.status === "void") value.status = "pending";
  }
  if ("avatar_url" in value && value.avatar_url === null) value.avatar_url = "";
  for (const key of Object.keys(value)) {
    const child = value[key];
    if (child !== null && typeof child === "object") adapt(child);
  }
}

globalThis.fetch = async function (input, init) {
  const response = await original(input, init);
  const url = typeof input === "string" ? input : input.url;
  const type = response.headers.get("content-type") || "";
  if (!url.startsWith("http://127.0.0.1:") || !type.includes("json")) return response;
  const text = await response.text();
  const started = performance.now();
  let body = text;
  try {
    const parsed = JSON.parse(text);
    adapt(parsed);
    body = JSON.stringify(parsed);
  } catch {
    // not JSON after all: pass it through unchanged
  }
  millis += performance.now() - started;
  calls += 1;
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
};

process.on("exit", () => {
  require("node:fs").writeSync(2, `polar-compat: ${JSON.stringify({ calls, millis })}\n`);
});
