"""A burst of concurrent sessions over streamable HTTP: `python -m bench.http_load [--sessions 50] [--calls 100]`.

Each session makes its calls (get_order) one after another against a server process on the embedded
emulator; every call must succeed. Prints the calls answered, the time, calls per second and the server's
memory before and after. `make test` runs a small burst of the same (tests/reliability/test_http_load.py).
"""

from __future__ import annotations

import argparse
import sys

import anyio
from tests.reliability.processes import concurrent_sessions, server_process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    with server_process("--emulator", "--emulator-orders", "200") as server:
        figures = anyio.run(concurrent_sessions, server, args.sessions, args.calls)
    print(
        f"{args.sessions} sessions x {args.calls} calls: {figures.answered} answered, 0 errors, "
        f"{figures.seconds:.1f} s ({figures.answered / figures.seconds:.0f} calls/s); server RSS "
        f"{figures.rss_before_kb // 1024} -> {figures.rss_after_kb // 1024} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
