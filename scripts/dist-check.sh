#!/usr/bin/env bash
# Build the sdist and the wheel with `python -m build`, install each into a fresh virtualenv
# and run it from there: --version, --help, the stdio demo and the streamable-HTTP transport,
# both on the embedded emulator. Nothing from the source tree is on the path while it runs.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
# No POLAR_* from the caller's environment: no bearer token, no real Polar.
for name in $(compgen -e | grep '^POLAR' || true); do unset "$name"; done
step() { printf '== %s (%ss)\n' "$1" "$SECONDS"; }
quietly() {  # run a command with its output in a log, shown only if it fails
    local log="$work/$1.log"
    shift
    "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "failed: $*" >&2; exit 1; }
}

version="$("$python" - "$root/src/polar_orders_mcp/__init__.py" <<'PY'
import re, sys
print(re.search(r'^__version__ = "([^"]+)"', open(sys.argv[1]).read(), re.M).group(1))
PY
)"

step "build polar-orders-mcp $version"
"$python" -m venv "$work/build-env"
quietly pip-build "$work/build-env/bin/python" -m pip install --disable-pip-version-check build
# Without --sdist/--wheel, build makes the sdist and then the wheel FROM the sdist: a file the
# sdist forgets breaks the wheel here, not on a user's machine.
quietly build "$work/build-env/bin/python" -m build --outdir "$work/dist" "$root"
wheel="$work/dist/polar_orders_mcp-$version-py3-none-any.whl"
sdist="$work/dist/polar_orders_mcp-$version.tar.gz"
ls "$wheel" "$sdist" >/dev/null

step "inspect the artifacts"
"$python" - "$wheel" "$sdist" "$version" <<'PY'
import email, sys, tarfile, zipfile

wheel, sdist, version = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
stray = [n for n in names if not n.startswith(("polar_orders_mcp/", f"polar_orders_mcp-{version}.dist-info/"))]
assert not stray, f"the wheel carries files outside the package: {stray[:10]}"
for module in ("cli.py", "server/app.py", "emulator/app.py", "polar/client.py", "tools/registry.py"):
    assert f"polar_orders_mcp/{module}" in names, f"the wheel lacks polar_orders_mcp/{module}"
meta = email.message_from_bytes(zipfile.ZipFile(wheel).read(f"polar_orders_mcp-{version}.dist-info/METADATA"))
assert meta["Version"] == version, meta["Version"]
assert meta["Requires-Python"], "no Requires-Python"
assert "polar-orders-mcp" in (meta.get_payload() or ""), "the README is not the long description"
members = tarfile.open(sdist).getnames()
for path in ("README.md", "pyproject.toml", "src/polar_orders_mcp/__init__.py"):
    assert f"polar_orders_mcp-{version}/{path}" in members, f"the sdist lacks {path}"
print(f"  wheel: {len(names)} files; sdist: {len(members)} entries")
PY

check_install() {
    local kind="$1" artifact="$2"
    local venv="$work/venv-$kind"
    step "install the $kind into a fresh venv"
    "$python" -m venv "$venv"
    quietly "pip-$kind" "$venv/bin/python" -m pip install --disable-pip-version-check "$artifact"
    local bin="$venv/bin/polar-orders-mcp"
    cd "$work"  # away from the source tree, so only the installed package can be imported

    step "$kind: --version, --help"
    local shown
    shown="$("$bin" --version)"
    [ "$shown" = "polar-orders-mcp $version" ] || { echo "--version printed '$shown'" >&2; exit 1; }
    [ "$("$venv/bin/python" -m polar_orders_mcp --version)" = "$shown" ]
    "$bin" --help >/dev/null
    "$bin" serve --help >"$work/help.txt"
    grep -q -- "--transport" "$work/help.txt"
    "$venv/bin/python" - "$venv" <<'PY'
import sys, polar_orders_mcp
assert polar_orders_mcp.__file__.startswith(sys.argv[1]), f"imported from {polar_orders_mcp.__file__}"
PY

    step "$kind: the stdio demo on the emulator"
    quietly "demo-$kind" "$bin" demo
    grep -q "Demo complete" "$work/demo-$kind.log"

    step "$kind: streamable HTTP on loopback"
    local port
    port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$bin" serve --emulator --transport http --no-auth --host 127.0.0.1 --port "$port" >"$work/http-$kind.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 150); do
        "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
            2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/http-$kind.log" >&2; exit 1; }
        sleep 0.2
    done
    "$venv/bin/python" "$root/scripts/http_smoke.py" "http://127.0.0.1:$port/mcp" "$version"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    cd "$root"
}

check_install wheel "$wheel"
check_install sdist "$sdist"
step "dist-check passed: $(basename "$wheel") and $(basename "$sdist") install and serve"
