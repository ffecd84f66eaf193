"""Adding a passkey in the console: the approver's secret adds their first one (trust on first use) and no other,
so that whoever learns the secret cannot add a passkey of their own beside the approver's, nor replace one the
approver removed. The operator lists passkeys and resets an approver's (`polar-orders-mcp passkeys`), which
stops what a reset passkey approved and lets the approver add one again; enrolments and resets are audited."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from webauthn.helpers import base64url_to_bytes

from polar_orders_mcp.cli import main
from polar_orders_mcp.emulator.seed import SeedInfo
from polar_orders_mcp.emulator.state import EmulatorState
from polar_orders_mcp.server.app import ServerParts
from polar_orders_mcp.signing import KEY_FILE
from tests.approvals.authenticator import SoftPasskey
from tests.approvals.console_client import APPROVER_SECRET, Person
from tests.approvals.test_passkeys import ORIGIN, _field, approve_with, ask, enrol, not_charged
from tests.approvals.test_passkeys import PASSKEY_SETTINGS as PASSKEYS
from tests.tools.conftest import fail

pytestmark = pytest.mark.anyio

HAS_ONE = (
    "You have a passkey already: to replace or add one, ask the operator to run "
    "`polar-orders-mcp passkeys reset {name}`, then add it here."
)
HAD_ONE = (
    "Your passkey was removed, and only your first passkey is added with your approver secret alone: ask the "
    "operator to run `polar-orders-mcp passkeys reset {name}`, then add one here."
)


@pytest.fixture
def parts(make_parts: Any) -> ServerParts:
    return make_parts(**PASSKEYS)  # type: ignore[no-any-return]


@pytest.fixture
async def person(parts: ServerParts) -> Any:
    async with Person(parts.console, base_url=ORIGIN) as someone:
        await someone.sign_in()
        yield someone


@pytest.fixture
async def key(person: Person) -> SoftPasskey:
    """The approver's own passkey, added with their secret: their first."""
    made = SoftPasskey()
    assert (await enrol(person, made)).status_code == 303
    return made


def page_error(response: httpx2.Response) -> str:
    found = re.search(r'<div class="error">(.*?)</div>', response.text)
    return html.unescape(found.group(1)) if found else response.text[:300]


async def enrol_anyway(person: Person, key: SoftPasskey) -> httpx2.Response:
    """Post a new passkey as a script would, whether or not the Passkeys page offers to add one."""
    page = (await person.http.get("/approvals/passkeys")).text
    found = re.search(r'data-options="([^"]*)"', page)
    challenge = json.loads(html.unescape(found.group(1)))["challenge"] if found else "AAAA"
    nonce = re.search(r'name="nonce" value="([^"]*)"', page)
    form = {
        "csrf": _field(page, "csrf"),
        "nonce": nonce.group(1) if nonce else "",
        "name": "theirs",
        "credential": key.create(base64url_to_bytes(challenge), ORIGIN),
    }
    return await person.http.post("/approvals/passkeys", data=form, headers={"Origin": ORIGIN})


async def remove(person: Person, key: SoftPasskey) -> httpx2.Response:
    listed = (await person.http.get("/approvals/passkeys")).text
    form = {"csrf": _field(listed, "csrf"), "credential_id": key.id}
    return await person.http.post("/approvals/passkeys/remove", data=form, headers={"Origin": ORIGIN})


async def audited(parts: ServerParts, event: str) -> list[dict[str, Any]]:
    records = await (await parts.store()).audit_records()
    return [r.entry for r in records if r.entry.get("event") == event]


@pytest.fixture
def operator(
    parts: ServerParts, tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """`polar-orders-mcp ARGS --state-dir` of the test server, run as the operator would: its exit code and
    what it printed."""

    async def run(*argv: str) -> tuple[int, str, str]:
        store = await parts.store()
        if getattr(store, "dialect", "sqlite") == "postgresql":
            monkeypatch.setenv("POLAR_MCP_DATABASE_URL", store._url.render_as_string(hide_password=False))  # type: ignore[attr-defined]
        capsys.readouterr()

        def call() -> int:
            try:
                main([*argv, "--state-dir", str(tmp_path / "state")])
            except SystemExit as exit:
                return int(exit.code or 0)
            return 0

        code = await anyio.to_thread.run_sync(call)
        said = capsys.readouterr()
        return code, said.out, said.err

    return run


def untimed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", e["time"]) for e in entries), entries
    return [{k: v for k, v in e.items() if k != "time"} for e in entries]


async def test_an_approver_without_a_passkey_adds_one_with_the_secret(parts: ServerParts, person: Person) -> None:
    page = (await person.http.get("/approvals/passkeys")).text
    mine = SoftPasskey()
    added = await enrol(person, mine)
    assert "data-passkey-enrol" in page and "only the server's operator can let you add or replace one" in page
    assert added.status_code == 303 and added.headers["location"].endswith("/passkeys?done=added")
    assert untimed(await audited(parts, "passkey_added")) == [
        {"event": "passkey_added", "approver": "approver", "credential": mine.id[:12], "name": "laptop"}
    ]


async def test_an_approver_with_a_passkey_adds_no_other(parts: ServerParts, person: Person, key: SoftPasskey) -> None:
    page = await person.http.get("/approvals/passkeys")
    other = SoftPasskey()
    refused = await enrol_anyway(person, other)
    assert page.status_code == 200 and "data-passkey-enrol" not in page.text
    assert HAS_ONE.format(name="approver") in html.unescape(page.text)
    assert (refused.status_code, page_error(refused)) == (403, HAS_ONE.format(name="approver"))
    assert [k.credential_id for k in await (await parts.store()).list_passkeys("approver")] == [key.id]
    assert len(await audited(parts, "passkey_added")) == 1


async def test_removing_ones_passkey_in_the_console_does_not_let_the_secret_add_another(
    parts: ServerParts, person: Person, key: SoftPasskey
) -> None:
    """Else whoever holds the secret removes the approver's passkey and adds their own."""
    assert (await remove(person, key)).status_code == 303
    refused = await enrol_anyway(person, SoftPasskey())
    assert (refused.status_code, page_error(refused)) == (403, HAD_ONE.format(name="approver"))
    assert await (await parts.store()).list_passkeys("approver") == []


async def test_after_the_operators_reset_the_approver_adds_one_again(
    parts: ServerParts, person: Person, key: SoftPasskey, operator: Any
) -> None:
    code, out, err = await operator("passkeys", "reset", "approver")
    new = SoftPasskey()
    added = await enrol(person, new)
    again = await enrol_anyway(person, SoftPasskey())
    verified = await operator("audit", "verify")
    assert (code, err) == (0, "")
    assert out.startswith(f"removed approver's passkey 'laptop' (credential {key.id[:12]}, added ")
    assert "approver may now add a passkey in the approval console" in out
    assert added.status_code == 303
    assert (again.status_code, page_error(again)) == (403, HAS_ONE.format(name="approver"))
    assert [k.credential_id for k in await (await parts.store()).list_passkeys("approver")] == [new.id]
    assert untimed(await audited(parts, "passkeys_reset")) == [
        {"event": "passkeys_reset", "approver": "approver", "credential": key.id[:12], "name": "laptop"}
    ]
    assert [e["credential"] for e in await audited(parts, "passkey_added")] == [key.id[:12], new.id[:12]]
    assert verified[0] == 0 and verified[1].startswith("audit chain intact"), verified


async def test_a_reset_after_a_removal_in_the_console_lets_the_approver_add_one(
    parts: ServerParts, person: Person, key: SoftPasskey, operator: Any
) -> None:
    await remove(person, key)
    code, out, _ = await operator("passkeys", "reset", "approver")
    added = await enrol(person, SoftPasskey())
    assert code == 0 and out.startswith("approver had no passkey that was not removed.")
    assert added.status_code == 303
    assert untimed(await audited(parts, "passkeys_reset")) == [
        {"event": "passkeys_reset", "approver": "approver", "credential": None, "name": None}
    ]


async def test_a_reset_stops_an_approval_made_with_the_reset_passkey_before_its_act(
    parts: ServerParts, person: Person, key: SoftPasskey, seed: SeedInfo, state: EmulatorState, operator: Any
) -> None:
    order_id = seed.draft_orders["good_card"]
    async with Client(parts.server) as client:
        approval_id = await ask(client, order_id)
        assert (await approve_with(person, key, approval_id)).status_code == 303
        assert (await operator("passkeys", "reset", "approver"))[0] == 0
        told = await fail(client, "finalize_order", {"order_id": order_id, "approval_id": approval_id})
    assert told == (
        not_charged(order_id, approval_id)
        + "cannot be acted on: the passkey it was approved with (laptop) was removed since. "
        "Call finalize_order again without approval_id for a person to approve it again."
    )
    assert state.store.order(order_id).status == "draft"


async def test_the_operator_lists_every_passkey(make_parts: Any, tmp_path: Any, operator: Any) -> None:
    parts: ServerParts = make_parts(
        **PASSKEYS, approver_token=None, approvers=f"ada:{APPROVER_SECRET},bob:{APPROVER_SECRET}-bob"
    )
    async with (
        Person(parts.console, base_url=ORIGIN) as ada,
        Person(parts.console, base_url=ORIGIN, secret=f"{APPROVER_SECRET}-bob") as bob,
    ):
        await ada.sign_in()
        await bob.sign_in()
        adas, bobs = SoftPasskey(), SoftPasskey()
        await enrol(ada, adas)
        await enrol(bob, bobs)
        await remove(bob, bobs)
    code, out, _ = await operator("passkeys", "list")
    only_ada = await operator("passkeys", "list", "ada")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].split() == [
        "approver",
        "name",
        "credential",
        "created",
        "(UTC)",
        "last",
        "used",
        "(UTC)",
        "removed",
        "(UTC)",
    ]
    day = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(rf"ada +laptop +{re.escape(adas.id[:12])} +{day} +never", lines[1]), lines[1]
    assert re.fullmatch(rf"bob +laptop +{re.escape(bobs.id[:12])} +{day} +never +{day}", lines[2]), lines[2]
    assert only_ada[1].splitlines()[1:] == lines[1:2]


async def test_a_reset_without_the_servers_signing_key_is_refused(
    operator: Any, tmp_path: Any, parts: ServerParts
) -> None:
    await (await parts.store()).open()
    (tmp_path / "state" / KEY_FILE).unlink()
    code, out, err = await operator("passkeys", "reset", "approver")
    assert (code, out) == (2, "")
    assert err.startswith("polar-orders-mcp passkeys: no signing key in ")
