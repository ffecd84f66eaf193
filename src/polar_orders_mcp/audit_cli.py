"""`polar-orders-mcp audit verify|tail|receipt|public-key`: check the audit, show it, export a decision's
signed receipt or check one offline, print the public key that checks them."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from polar_orders_mcp.audit_check import StoreView, check_chain, check_file, file_records
from polar_orders_mcp.money import money
from polar_orders_mcp.signing import ENV, PublicKey, SignatureRefused, SigningKey, existing_key
from polar_orders_mcp.store.records import AuditHead, AuditRecord, StoreError

__all__ = ["check_chain", "file_records", "run_audit"]

BATCH = 1000


async def _store_records(store: Any) -> list[AuditRecord]:
    found: list[AuditRecord] = []
    after = 0
    while batch := await store.audit_records(after=after, limit=BATCH):
        found.extend(batch)
        after = batch[-1].seq
    return found


def _settings(args: argparse.Namespace) -> Any:
    from polar_orders_mcp.settings import Settings

    return Settings(**({"state_dir": args.state_dir} if args.state_dir else {}))


def _server_key(settings: Any) -> SigningKey | None:
    """The server's own signing key (POLAR_MCP_SIGNING_KEY, or the state directory's file); never makes one."""
    secret = settings.signing_key.get_secret_value() if settings.signing_key is not None else None
    return existing_key(secret, settings.state_path())


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    """Rows as aligned columns on stdout, the first row the heading."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _open_store(args: argparse.Namespace, signer: SigningKey | None = None) -> Any:
    """The store the settings name (a command's --state-dir, POLAR_MCP_DATABASE_URL); `signer` signs what it
    appends to the audit chain (None: the command only reads)."""
    from polar_orders_mcp.store.sql import SqlStore

    url = _settings(args).store_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise ValueError(f"there is no store at {url.removeprefix('sqlite:///')}: pass --state-dir")
    return SqlStore(url, signer=signer)


def _public_keys(args: argparse.Namespace) -> list[PublicKey]:
    """The keys that check signatures: each --public-key (a JWK or PEM, or a file holding one), else the public
    half of the server's own key (POLAR_MCP_SIGNING_KEY, or the state directory's file). Never makes a key."""
    given: list[str] = getattr(args, "public_key", None) or []
    if given:
        return [PublicKey.from_text(Path(k).read_text() if Path(k).is_file() else k) for k in given]
    settings = _settings(args)
    own = _server_key(settings)
    if own is None:
        raise ValueError(
            "no public key to check the signatures with: pass --public-key JWK (`polar-orders-mcp audit public-key` "
            f"prints it where the server runs), or set {ENV}, or pass the server's --state-dir"
        )
    return [own.public]


def _read_store(args: argparse.Namespace) -> tuple[str, list[AuditRecord], AuditHead]:
    store = _open_store(args)

    async def read() -> tuple[list[AuditRecord], AuditHead]:
        try:
            return await _store_records(store), await store.signed_head()
        finally:
            await store.close()

    records, head = anyio.run(read)
    return store.url_for_humans, records, head


def _verify(args: argparse.Namespace) -> int:
    keys = _public_keys(args)
    signer = ", ".join(k.kid for k in keys)
    view: StoreView | None = None
    if not (args.file and args.no_store):
        where, records, head = _read_store(args)
        checked, problem = check_chain(records, head, keys)
        if problem:
            print(f"audit chain BROKEN in {where}: {problem} ({checked} records before it are intact).")
            return 1
        if not args.file:
            print(
                f"audit chain intact in {where}: {checked} records, every hash matches, and every signature "
                f"(key {signer}) up to the head, record {head.seq}."
            )
            return 0
        view = StoreView({record.seq: record for record in records}, head)
    checked, problem = check_file(file_records(Path(args.file)), keys, view)
    if problem:
        print(f"audit log BROKEN in {args.file}: {problem} ({checked} records before it are intact).")
        return 1
    against = "on its own" if view is None else f"against the store's chain, signed up to record {view.head.seq}"
    print(
        f"audit log intact in {args.file}: {checked} records, every hash and signature (key {signer}) matches, "
        f"checked {against}."
    )
    return 0


def _receipt(args: argparse.Namespace) -> int:
    from polar_orders_mcp import receipts

    if args.verify:
        keys = _public_keys(args)
        try:
            document = receipts.verify(Path(args.verify).read_text(encoding="ascii", errors="replace"), keys)
        except receipts.ReceiptRefused as exc:
            print(f"receipt REFUSED: {exc}.")
            return 1
        mandate, outcome = document["payment_mandate"], document["payment_receipt"]
        print(
            f"receipt intact, signed by key {', '.join(k.kid for k in keys)}: approval {mandate['payment_mandate_id']} "
            f"{mandate['decision']} by {mandate['approver']} ({mandate['channel']}) at {mandate['decided_at']}; "
            f"outcome {outcome['status']}."
        )
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    if not args.id:
        raise ValueError("name the approval: polar-orders-mcp audit receipt APPROVAL_ID (or --verify FILE)")
    settings = _settings(args)
    key = _server_key(settings)
    if key is None:
        raise ValueError(f"no signing key in {settings.state_path()} and {ENV} is not set: nothing can sign a receipt")
    store = _open_store(args)

    async def read() -> Any:
        try:
            return await store.evidence(args.id)
        finally:
            await store.close()

    approval, act, records, owner = anyio.run(read)
    if approval is None:
        raise ValueError(f"there is no approval {args.id[:64]!r} in {store.url_for_humans}")
    try:
        token = receipts.build(approval, act, records, owner, key, time.time())
    except receipts.ReceiptRefused as exc:
        print(f"receipt REFUSED: {exc}.")
        return 1
    if args.out:
        Path(args.out).write_text(token + "\n", encoding="ascii")
        print(
            f"receipt of {approval.id} written to {args.out}; check it with: polar-orders-mcp audit receipt "
            f"--verify {args.out} --public-key JWK"
        )
    else:
        print(token)
    return 0


def _public_key(args: argparse.Namespace) -> int:
    print(json.dumps(_public_keys(args)[0].jwk))
    return 0


def _amount(entry: dict[str, Any]) -> str:
    """The money a record's call moves, as previewed ("$15.00"); "-" for one that moves none, or a record
    written before records said it."""
    amount, currency = entry.get("amount"), entry.get("currency")
    return money(amount, currency if isinstance(currency, str) else None) if isinstance(amount, int) else "-"


def _tail(args: argparse.Namespace) -> int:
    if args.file:
        records = list(file_records(Path(args.file)))[-args.lines :]
    else:
        store = _open_store(args)

        async def read() -> list[AuditRecord]:
            try:
                return list(await store.audit_tail(args.lines))
            finally:
                await store.close()

        records = anyio.run(read)
    rows = [("seq", "time (UTC)", "tool", "target", "amount", "client", "channel", "approver", "outcome")]
    for r in records:
        e = r.entry
        rows.append(
            (
                str(r.seq),
                str(e.get("time", ""))[:19].replace("T", " "),
                str(e.get("tool", "")),
                str(e.get("target") or "")[:36],
                _amount(e),
                str(e.get("client", "")),
                str(e.get("channel", "")),
                str(e.get("approver", ""))[:32],
                str(e.get("outcome", "")),
            )
        )
    _table(rows)
    return 0


ACTIONS = {"verify": _verify, "tail": _tail, "receipt": _receipt, "public-key": _public_key}


def run_audit(args: argparse.Namespace) -> int:
    try:
        return ACTIONS[args.action](args)
    except (ValueError, OSError, StoreError, SignatureRefused) as exc:
        print(f"polar-orders-mcp audit: {exc}", file=sys.stderr)
        return 2
