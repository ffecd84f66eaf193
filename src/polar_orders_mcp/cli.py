"""The command line: serve (default), emulator, demo, audit, passkeys."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from polar_orders_mcp import __version__
from polar_orders_mcp.approvals.limits import Limits
from polar_orders_mcp.settings import Settings, environment_names
from polar_orders_mcp.stderr import say
from polar_orders_mcp.tools.toolsets import toolsets_help

COMMANDS = ("serve", "emulator", "demo", "audit", "passkeys")
# Loggers that would write request or result payloads (customer data, audit entries) at DEBUG.
PAYLOAD_LOGGERS = {
    "httpx2": logging.WARNING,
    "sse_starlette": logging.INFO,
    "mcp.server.sse": logging.INFO,
    "aiosqlite": logging.INFO,
    "sqlalchemy.engine": logging.WARNING,
    "asyncpg": logging.INFO,
}


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# How an option's value is read, by its setting's type; any other value goes to Settings as written.
READERS: dict[Any, Callable[[str], Any]] = {int: int, float: float, list[str]: _csv}


@dataclass(frozen=True)
class Option:
    """What a serve option needs beyond what its setting's name, type and description give."""

    metavar: str | None = None
    aliases: tuple[str, ...] = ()


# Only what differs from the rule; every setting but the secrets has a serve option of its own name.
OPTIONS: dict[str, Option] = {
    "customer_session": Option(metavar="TOKEN"),
    "server": Option(metavar="ENV_OR_URL"),
    "approval_ttl": Option(aliases=("--confirm-ttl",)),
    "oauth_issuer": Option(metavar="URL"),
    "timezone": Option(metavar="ZONE"),
    "audit_log": Option(metavar="FILE"),
}
# Secrets are read from the environment only, so they never show in a process list; a customer session (one
# customer's, an hour long) has a flag too.
SECRETS_WITH_A_FLAG = frozenset({"customer_session"})


def _is_secret(field: FieldInfo) -> bool:
    return field.annotation is SecretStr or SecretStr in get_args(field.annotation)


def flagged(settings: type[Settings] = Settings) -> list[str]:
    """The settings a serve option sets: all but the secrets."""
    return [
        name for name, field in settings.model_fields.items() if not _is_secret(field) or name in SECRETS_WITH_A_FLAG
    ]


def environment_only() -> list[str]:
    """The settings no option sets: the secrets."""
    return [name for name in Settings.model_fields if name not in flagged()]


def _negated(field: FieldInfo) -> bool:
    """A switch that is on by default: its option turns it off."""
    return field.annotation is bool and field.default is True


def flag(name: str, field: FieldInfo) -> str:
    """The serve option of a setting: --name, or --no-name for a switch on by default."""
    return ("--no-" if _negated(field) else "--") + name.replace("_", "-")


def default_text(field: FieldInfo) -> str | None:
    """A setting's default as it is written on the command line; None when there is none (or it is empty)."""
    value: Any = field.get_default(call_default_factory=True)
    if value is None or isinstance(value, bool) or value == type(value)():
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return ",".join(str(item) for item in value) if isinstance(value, list) else str(value)


def _without_none(annotation: Any) -> Any:
    """`X | None` -> X; any other annotation as it is."""
    args = get_args(annotation)
    return next(arg for arg in args if arg is not type(None)) if type(None) in args else annotation


def _metavar(name: str, field: FieldInfo) -> str | None:
    """What the help shows for an option's value: from the table, else from the setting's type and name."""
    if name in OPTIONS and OPTIONS[name].metavar:
        return OPTIONS[name].metavar
    kind = _without_none(field.annotation)
    if get_origin(kind) is Literal:
        return "{" + ",".join(get_args(kind)) + "}"
    if name.endswith(("_ttl", "timeout", "_wait")):
        return "SECONDS"
    if name == "port" or name.endswith("_port"):
        return "PORT"
    by_type = {int: "N", float: "NUMBER", Limits: "LIMITS", list[str]: "A,B"}
    return by_type.get(kind) or name.rsplit("_", 1)[-1].upper()


def _value(name: str, field: FieldInfo) -> dict[str, Any]:
    """How argparse reads the option's value (a switch takes none); Settings checks it as it checks the
    environment's."""
    if field.annotation is bool:
        return {"action": "store_false" if _negated(field) else "store_true", "default": None}
    reader = READERS.get(field.annotation)
    return {"metavar": _metavar(name, field), **({"type": reader} if reader else {})}


def _help(name: str, field: FieldInfo) -> str:
    """The setting's description, its default and its environment variable."""
    text, variable = field.description or "", environment_names(name, field)[0]
    if _negated(field):
        text, variable = f"{text} On by default: this option turns it off.", f"{variable}=false"
    elif (default := default_text(field)) is not None:
        text = f"{text} Default: {default}."
    return f"{text} [{variable}]".replace("%", "%%")


def add_serve_options(parser: argparse.ArgumentParser, settings: type[Settings] = Settings) -> None:
    """One option per setting of `settings` but the secrets, in the settings' order."""
    for name in flagged(settings):
        field = settings.model_fields[name]
        parser.add_argument(
            flag(name, field),
            *OPTIONS.get(name, Option()).aliases,
            dest=name,
            help=_help(name, field),
            **_value(name, field),
        )


def _environment_only() -> str:
    """The settings no option sets (the secrets), each with its environment variable, for serve --help."""
    lines = ["read from the environment only (secrets never show in a process list):"]
    for name in environment_only():
        lines.append(f"  {environment_names(name)[0]}: {Settings.model_fields[name].description or ''}")
    return "\n".join(lines)


def _add_serve(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve MCP over stdio (the default command)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"toolsets (--toolsets):\n{toolsets_help()}\n\n{_environment_only()}",
    )
    add_serve_options(serve)


def _add_emulator(sub: Any) -> None:
    emulator = sub.add_parser("emulator", help="serve the local Polar emulator over HTTP")
    emulator.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    emulator.add_argument("--orders", type=int, default=60, help="orders to seed (default 60)")


def _add_audit(sub: Any) -> None:
    audit = sub.add_parser("audit", help="verify the audit chain, show it, export or check a signed receipt")
    audit.add_argument(
        "action",
        choices=["verify", "tail", "receipt", "public-key"],
        help="verify: check every record's hash and signature against the signed head; tail: show "
        "the last records as a table; receipt ID: export a decision and its outcome as a signed "
        "receipt (receipt --verify FILE: check one, offline); public-key: print the key that checks "
        "signatures, as a JWK",
    )
    audit.add_argument("id", nargs="?", help="receipt: the approval's id (apr_...)")
    audit.add_argument("-n", "--lines", type=int, default=20, help="tail: how many records (default 20)")
    audit.add_argument(
        "--file",
        metavar="FILE",
        help="verify: check this JSON-lines audit log (one process's) against the store; tail: show it",
    )
    audit.add_argument(
        "--no-store",
        action="store_true",
        help="verify --file: check the file on its own (a replica's file then shows gaps)",
    )
    audit.add_argument("--state-dir", metavar="DIR", help="the store's state directory [POLAR_MCP_STATE_DIR]")
    audit.add_argument(
        "--public-key",
        metavar="JWK",
        action="append",
        help="check signatures with this public key (a JWK or PEM, or a file holding one; repeat for "
        "several); default: the server's own key [POLAR_MCP_SIGNING_KEY or the state directory's]",
    )
    audit.add_argument("--verify", metavar="FILE", help="receipt: check this receipt offline, without the store")
    audit.add_argument("--out", metavar="FILE", help="receipt: write it to FILE instead of stdout")


def _add_passkeys(sub: Any) -> None:
    keys = sub.add_parser(
        "passkeys",
        help="list the approvers' passkeys, or reset an approver's so that they may add one again",
        description="An approver's first passkey is added in the console with their approver secret; after that "
        "the secret alone adds none. reset NAME marks every passkey of the approver removed (an approval made with "
        "one and not yet used is not acted on) and lets them add one again in the console. Both are recorded in "
        "the audit chain.",
    )
    keys.add_argument(
        "action",
        choices=["list", "reset"],
        help="list: every passkey (approver, name, created, last used, removed); reset NAME: remove "
        "every passkey of the approver NAME and let them add one again",
    )
    keys.add_argument("name", nargs="?", help="the approver (reset; list: only theirs)")
    keys.add_argument("--state-dir", metavar="DIR", help="the store's state directory [POLAR_MCP_STATE_DIR]")


def _parser() -> argparse.ArgumentParser:
    secrets = ", ".join(environment_names(name)[0] for name in environment_only())
    parser = argparse.ArgumentParser(
        prog="polar-orders-mcp",
        description="MCP server for Polar.sh orders and checkouts. Commands: serve (default), "
        "emulator (serve the local Polar emulator over HTTP), demo (a scripted session on the emulator), "
        "audit (verify or show the audit chain), passkeys (list the approvers' passkeys, or reset one's).",
        epilog=f"Every server option: polar-orders-mcp serve --help. Secrets ({secrets}) are read from the "
        "environment only, so they never show in a process list.",
    )
    parser.add_argument("--version", action="version", version=f"polar-orders-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    _add_serve(sub)
    _add_emulator(sub)
    sub.add_parser("demo", help="run a scripted MCP session over stdio against the emulator")
    _add_audit(sub)
    _add_passkeys(sub)
    return parser


def _settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line gave: flags override the environment."""
    given = {name: getattr(args, name, None) for name in flagged()}
    return {name: value for name, value in given.items() if value is not None}


def _said_as(field: str, given: dict[str, Any]) -> str:
    """What the user typed to set `field`: its option when one set it, else its environment variable."""
    if field in given:
        return flag(field, Settings.model_fields[field])
    return environment_names(field)[0] if field in Settings.model_fields else field


def _setting_name(loc: tuple[int | str, ...], given: dict[str, Any]) -> str:
    """The setting a validation error is about, as the user set it (an alias already is a variable's name)."""
    return _said_as(str(loc[0]), given) if loc else ""


def _configure_logging(level: str) -> None:
    # stdout carries the protocol in stdio mode: every log line goes to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Loggers that write what passes through them, whatever the level asked for: httpx2 logs every URL
    # at INFO (query strings hold customer emails, checkout paths hold client secrets; the client logs
    # its own redacted line), and at DEBUG sse_starlette logs every event-stream chunk and the SDK's SSE
    # transport every message, that is whole tool results with client secrets, customer sessions and
    # confirmation tokens in them.
    for name, floor in PAYLOAD_LOGGERS.items():
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), floor))


def _freeze_startup_objects() -> None:
    """Keep what startup built (modules, models, schemas: about 100k objects, alive until exit) out
    of the cyclic collector's full passes, which otherwise stall a tool call for 30-40 ms now and then."""
    import gc

    gc.freeze()


def _read_settings(overrides: dict[str, Any]) -> Settings | None:
    """The settings from the environment and the flags; None, having said what is wrong, when they are not valid."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            name = _setting_name(error["loc"], overrides)
            message = str(error["msg"]).removeprefix("Value error, ")
            say(f"polar-orders-mcp: invalid setting {name}: {message}")
        return None


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        logging.getLogger("polar_orders_mcp").warning("%s", warning)


def _serve_http(settings: Settings) -> None:
    from polar_orders_mcp.server.app import build_parts, open_store, replica_warnings
    from polar_orders_mcp.server.http import check_exposure, listen, serve_http
    from polar_orders_mcp.token_check import check_token

    check_exposure(settings)
    sock = listen(settings.host, settings.port, how_to_change="--port N (or POLAR_MCP_PORT)")
    built = build_parts(settings)
    _warn([*replica_warnings(settings), *check_token(settings)])
    # The schema is created or upgraded before the first request; a newer one stops the start.
    open_store(built)
    _freeze_startup_objects()
    serve_http(built.server, settings, sock)


def _serve(args: argparse.Namespace) -> int:
    overrides = _settings_overrides(args)
    settings = _read_settings(overrides)
    if settings is None:
        return 2
    _configure_logging(settings.log_level)

    from polar_orders_mcp.server.app import UnknownNames
    from polar_orders_mcp.server.stdio import serve_stdio
    from polar_orders_mcp.store.records import StoreError
    from polar_orders_mcp.token_check import check_token

    try:
        if settings.transport == "stdio":
            _warn(check_token(settings))
            serve_stdio(settings)
        else:
            _serve_http(settings)
    except (ValueError, StoreError) as exc:
        said = exc.said_of(_said_as(exc.setting, overrides)) if isinstance(exc, UnknownNames) else str(exc)
        say(f"polar-orders-mcp: {said}")
        return 2
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from polar_orders_mcp.emulator.app import serve
    from polar_orders_mcp.server.http import StartupError, listen

    try:
        sock = listen(args.host, args.port, how_to_change="--port N")
    except StartupError as exc:
        say(f"polar-orders-mcp emulator: {exc}")
        return 2
    serve(host=args.host, port=args.port, orders=args.orders, sock=sock)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from polar_orders_mcp.demo import run_demo

    return run_demo()


def _audit(args: argparse.Namespace) -> int:
    from polar_orders_mcp.audit_cli import run_audit

    return run_audit(args)


def _passkeys(args: argparse.Namespace) -> int:
    from polar_orders_mcp.passkeys_cli import run_passkeys

    return run_passkeys(args)


RUN: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _serve,
    "emulator": _emulator,
    "demo": _demo,
    "audit": _audit,
    "passkeys": _passkeys,
}


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "serve")
    args = _parser().parse_args(argv)
    sys.exit(RUN[args.command](args))
