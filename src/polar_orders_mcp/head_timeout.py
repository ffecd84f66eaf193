"""uvicorn's HTTP protocol with a request-head timeout: a connection must send its request head in time.

uvicorn (checked on 0.55.0) arms its keep-alive timer only after a response is complete, and cancels it
as soon as any byte arrives: a connection that sends nothing, or part of a head and then nothing, is kept
open for ever. Three hundred of them took every descriptor of a server (`ulimit -n 256`) and /healthz
stopped answering. This subclass closes a connection whose head has not fully arrived within the timeout
after it opened, or after its previous response was complete.

It relies on uvicorn's protocol internals, which is why it is in this one module, and why
tests/reliability/test_head_timeout.py checks the names it uses as well as the behaviour: `connection_made`,
`on_response_complete`, `transport`, `loop`, and `cycle`, the RequestResponseCycle both of
uvicorn's protocols (httptools and h11) make once a request's head is complete.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


def head_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's own HTTP protocol (httptools when installed, else h11), closing a connection whose request
    head has not arrived `seconds` after it opened or after its last response; for uvicorn.Config(http=…)."""
    base: Any = AutoHTTPProtocol

    class HeadTimeoutProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._await_head()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._await_head()

        def _await_head(self) -> None:
            # The cycle of the last request (None before the first): a complete head makes a new one. A request
            # already read (pipelined) is that cycle, and its connection is not idle until it is answered.
            self.loop.call_later(seconds, self._head_overdue, self.cycle)

        def _head_overdue(self, cycle_then: Any) -> None:
            waiting = cycle_then is None or cycle_then.response_complete
            if self.cycle is cycle_then and waiting and not self.transport.is_closing():
                self.transport.close()

    return HeadTimeoutProtocol
