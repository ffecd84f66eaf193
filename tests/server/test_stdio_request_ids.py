"""Over stdio, a request whose id JSON-RPC and MCP do not allow (null, an object, a list, true, a fraction) is no
JSON-RPC message either: it gets an Invalid Request error (id null), as every other line that is none does.
The SDK reads such a line as a notification (the id dropped) and answers nothing, so the client waits for ever."""

from __future__ import annotations

import json

from polar_orders_mcp.server.stdio_wire import id_refused
from tests.server.test_stdio_errors import INITIALIZE, send, stdio_lines

INVALID_REQUEST = -32600
IDS = {"null": "null", "an object": '{"a":1}', "a list": "[1]", "true": "true", "a fraction": "1.5"}


def test_a_request_with_an_id_that_is_not_one_is_answered_with_an_invalid_request() -> None:
    with stdio_lines() as (proc, lines):
        send(proc, json.dumps(INITIALIZE))
        assert json.loads(lines.get(timeout=60))["id"] == 1
        send(proc, '{"jsonrpc":"2.0","method":"notifications/initialized"}')
        answers = {}
        for what, given in IDS.items():
            send(proc, f'{{"jsonrpc":"2.0","id":{given},"method":"ping"}}')
            send(proc, '{"jsonrpc":"2.0","id":9,"method":"ping"}')
            answers[what] = json.loads(lines.get(timeout=10))
            if answers[what].get("id") != 9:
                assert json.loads(lines.get(timeout=10)) == {"jsonrpc": "2.0", "id": 9, "result": {}}
    assert {what: (answer["id"], answer.get("error", {}).get("code")) for what, answer in answers.items()} == {
        what: (None, INVALID_REQUEST) for what in IDS
    }


def test_only_a_request_whose_id_is_not_a_string_or_an_integer_is_refused() -> None:
    call = '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"create_refund","arguments":{}}}'
    assert [id_refused(call % given) for given in IDS.values()] == [True] * len(IDS)
    assert [id_refused(call % given) for given in ("0", "-7", '"a"', '""')] == [False] * 4
    # A response may have a null id (an error about a message without one); a notification has no id; a line
    # that is no JSON is the SDK reader's to refuse.
    assert id_refused('{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x"}}') is False
    assert id_refused('{"jsonrpc":"2.0","method":"notifications/initialized"}') is False
    assert id_refused('{"jsonrpc":"2.0","id":null,"method":"ping"') is False
