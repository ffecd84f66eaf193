"""`polar-orders-mcp passkeys list|reset`: the operator's view of the approvers' passkeys, and the one way to let
an approver who has (or had) a passkey add another. The console adds an approver's first passkey with their
secret (trust on first use); after that the secret alone adds none, so that whoever learns it cannot add a passkey
of their own beside the approver's. A reset marks every passkey of the approver removed (an approval made with
one and not yet used is then not acted on) and lets them add one again in the console."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import anyio

from polar_orders_mcp.audit_cli import _open_store, _server_key, _settings, _table
from polar_orders_mcp.signing import ENV, SignatureRefused
from polar_orders_mcp.store.base import Store
from polar_orders_mcp.store.records import Passkey, StoreError


def _when(moment: float | None) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def _list(args: argparse.Namespace) -> int:
    store: Store = _open_store(args)

    async def read() -> list[Passkey]:
        try:
            return await store.all_passkeys(args.name)
        finally:
            await store.close()

    keys = anyio.run(read)
    if not keys:
        print(f"no passkeys{f' of {args.name}' if args.name else ''} in {store.url_for_humans}.")
        return 0
    rows = [("approver", "name", "credential", "created (UTC)", "last used (UTC)", "removed (UTC)")]
    for k in keys:
        rows.append(
            (
                k.approver,
                k.name,
                k.credential_id[:12],
                _when(k.created_at),
                _when(k.last_used_at) or "never",
                _when(k.removed_at),
            )
        )
    _table(rows)
    return 0


def _reset(args: argparse.Namespace) -> int:
    if not args.name:
        raise ValueError("name the approver: polar-orders-mcp passkeys reset NAME (see passkeys list)")
    settings = _settings(args)
    key = _server_key(settings)
    if key is None:
        # The audit chain is signed record by record: an unsigned reset in it would fail `audit verify`.
        raise ValueError(
            f"no signing key in {settings.state_path()} and {ENV} is not set: a reset is recorded in the signed "
            "audit chain; pass the server's --state-dir, or set the key as the server has it"
        )
    store: Store = _open_store(args, signer=key)
    name: str = args.name

    def entry(passkey: Passkey | None) -> dict[str, Any]:
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": "passkeys_reset",
            "approver": name,
            "credential": passkey.credential_id[:12] if passkey else None,
            "name": passkey.name if passkey else None,
        }

    async def reset() -> list[Passkey]:
        try:
            return await store.reset_passkeys(name, audit=entry)
        finally:
            await store.close()

    removed = anyio.run(reset)
    for k in removed:
        print(
            f"removed {k.approver}'s passkey {k.name!r} (credential {k.credential_id[:12]}, added "
            f"{_when(k.created_at)} UTC): an approval made with it and not yet used will not be acted on."
        )
    if not removed:
        print(f"{name} had no passkey that was not removed.")
    print(
        f"{name} may now add a passkey in the approval console, with their approver secret; the reset is "
        f"recorded in the audit chain of {store.url_for_humans}."
    )
    return 0


ACTIONS = {"list": _list, "reset": _reset}


def run_passkeys(args: argparse.Namespace) -> int:
    try:
        return ACTIONS[args.action](args)
    except (ValueError, OSError, StoreError, SignatureRefused) as exc:
        print(f"polar-orders-mcp passkeys: {exc}", file=sys.stderr)
        return 2
