"""Run an ASGI app (a sandbox double) on a free loopback port in a background thread.

Tests start doubles in-process with `serve_in_thread(app)`; the CLI keeps them in the foreground.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import uvicorn


@dataclass
class ServerHandle:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    # proto IPPROTO_TCP (not 0): asyncio only turns Nagle off (TCP_NODELAY) on sockets that say they are TCP,
    # and without it every small response waits ~40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"double:{port}")
    thread.start()
    started = threading.Event()

    # wait on real state: uvicorn sets `started` once it accepts connections
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("sandbox double failed to start")
        started.wait(0.01)
    return ServerHandle(url=f"http://{host}:{port}", server=server, thread=thread)
