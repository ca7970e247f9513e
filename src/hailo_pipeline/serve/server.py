"""The sidecar's HTTP server: uvicorn's, with one send per answer and a drain before it shuts down.

One send per answer: uvicorn writes a response's head and its body to the socket apart, two sends, and on
loopback or a container bridge each send also delivers to the client inside the same call. Under overload
those sends were a third of the event loop's time (py-spy at 64 clients), time every answer waits behind.
The connection's transport holds the head until the body follows, and sends both at once.

On SIGTERM uvicorn closes every idle keep-alive connection at once. EdgeInfer's pool reuses its connections,
so a request it had just sent on one of them meets a reset, and EdgeInfer serves a stub: that is how the
old container of an image change cost a stub while the new one already answered beside it. The drain
instead:
1. stops listening, so a new connection is refused and the client goes to the next address of the name
   (the container beside it) or retries;
2. keeps answering on the open connections, with "Connection: close", so each client closes its connection
   itself once it has its answer (nothing is sent on a connection the server closes);
3. waits until no connection is open, at most DRAIN_LIMIT_S (and at most timeout_keep_alive, after which
   uvicorn closes an idle connection anyway); uvicorn's own shutdown then closes what is left and finishes
   the requests in flight. Connections the kernel had accepted but the server had not yet taken are reset
   when the listener closes, as in uvicorn's own shutdown.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hailo_pipeline.serve.control import listeners
from hailo_pipeline.serve.settings import SidecarConfig

GRACEFUL_SHUTDOWN_S = 10  # requests in flight once the drain ends may finish this long after it
DRAIN_LIMIT_S = 3.0  # with the device process's shutdown, inside the 10 s a `docker stop` gives before SIGKILL
DRAIN_POLL_S = 0.01


class _OneSendPerAnswer:
    """The transport of one connection, holding each response's head until its body is written."""

    def __init__(self, transport: asyncio.Transport, protocol: SidecarProtocol) -> None:
        self._transport, self._protocol = transport, protocol
        self._held = b""
        self._headed: object = None  # the request whose head was written last

    def write(self, data: bytes) -> None:
        cycle = self._protocol.cycle
        if cycle is not None and cycle.response_started and cycle is not self._headed:
            self._headed, self._held = cycle, data  # the head: uvicorn marks the response started, then writes it
            return
        if self._held:
            data, self._held = self._held + data, b""
        self._transport.write(data)

    def flush(self) -> None:
        if self._held:
            self._transport.write(self._held)
            self._held = b""

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class SidecarProtocol(HttpToolsProtocol):
    """httptools' HTTP/1.1 protocol with one send per answer (a response without a body is sent once complete)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneSendPerAnswer(transport, self))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()


class DrainingServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        state = self.server_state
        state.default_headers = [*state.default_headers, (b"connection", b"close")]  # read by each new request
        for connection in state.connections:
            cycle = connection.cycle if isinstance(connection, SidecarProtocol) else None  # the request answered now
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(DRAIN_LIMIT_S, self.config.timeout_keep_alive)
        while state.connections and loop.time() < deadline and not self.force_exit:
            await asyncio.sleep(DRAIN_POLL_S)
        await super().shutdown(sockets)


def sidecar_server(app: FastAPI, config: SidecarConfig) -> DrainingServer:
    return DrainingServer(
        uvicorn.Config(
            app,
            http=SidecarProtocol,
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            access_log=False,
            # EdgeInfer calls it directly: no proxy in front to trust, no Server or Date header to format per answer
            proxy_headers=False,
            server_header=False,
            date_header=False,
        )
    )


def serve(app: FastAPI, config: SidecarConfig) -> None:
    """Serves app on EdgeInfer's listener and the control listener until SIGTERM or SIGINT, then drains."""
    sidecar_server(app, config).run(sockets=listeners(config))
