"""A threaded WSGI server on 127.0.0.1 with TCP_NODELAY (otherwise each small reply waits ~40 ms)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer


class _NoDelayServer(ThreadedWSGIServer):
    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class RunningServer:
    """A server in a background thread; `url` is its base URL."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        server = _NoDelayServer(host, port, app)
        server.daemon_threads = True
        self.server = server
        self.url = f"http://{host}:{server.server_port}"
        self.thread = threading.Thread(target=server.serve_forever, name=f"wsgi:{self.url}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
