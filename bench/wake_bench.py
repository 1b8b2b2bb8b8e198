"""What the run_jobs wake-up adds to a reply (`make bench BENCH=wake`): `wake.after_request()` timed in-process
against a local stand-in for Lambda's Invoke API on 127.0.0.1 that answers 202 on keep-alive HTTP/1.1
connections, or never answers. Baseline: the same call where no wake-up is configured (~1 µs), so the table
gives what each case adds and its share of Discord's 3 s rather than a ratio to almost nothing.

Rows: no wake-up (baseline); a wake-up on the reused keep-alive connection (the common case); one that opens
a new connection (an instance's first); one coalesced (another was sent within the interval: nothing is sent);
one into an endpoint that hangs (held for the budget, then the reply goes). Signature checks are the tests'
business (tests/test_wake.py); here the stand-in accepts any request.
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ttfd.clients import aws_lambda
from ttfd.core import wake

ENV = {
    "WAKE_FUNCTION": "ttfd-bench-run_jobs",
    "AWS_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "bench-session-token",
}


class _Accept(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS's endpoints

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _accepting() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _hanging() -> Iterator[str]:
    """Accepts connections and reads requests, never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        for c in held:
            c.close()


def _timed(n: int, before: Callable[[], None]) -> list[float]:
    """ms that after_request() took, n times, `before` run (untimed) ahead of each."""
    out = []
    for _ in range(n):
        before()
        wake.mark()
        t0 = time.perf_counter()
        wake.after_request()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _alone() -> None:
    """Forget the last wake-up and let it end: each timed one is alone, as after a quiet second."""
    wake.reset()
    time.sleep(0.6)


def _row(name: str, ms: list[float]) -> list[str]:
    ordered = sorted(ms)
    p50, p99 = statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return [name, str(len(ms)), f"{p50:.3f}", f"{p99:.3f}", f"{p99 / 30:.2f} %"]  # p99 / 3000 ms × 100


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def bench_wake() -> None:
    saved = {k: os.environ.get(k) for k in [*ENV, "AWS_ENDPOINT_URL_LAMBDA"]}
    interval = wake.MIN_INTERVAL_S
    quiet, level = logging.getLogger(wake.__name__), logging.getLogger(wake.__name__).level
    try:
        os.environ.update(ENV)
        os.environ.pop("WAKE_FUNCTION")
        rows = [_row("no wake-up configured (baseline)", _timed(2000, wake.reset))]
        os.environ["WAKE_FUNCTION"] = ENV["WAKE_FUNCTION"]
        with _accepting() as url:
            os.environ["AWS_ENDPOINT_URL_LAMBDA"] = url
            wake.reset()
            wake.MIN_INTERVAL_S = 0.0  # send every time, to time each
            _timed(20, lambda: None)  # warm-up: the client, its connection, the signer
            rows.append(_row("wake-up, reused keep-alive connection", _timed(500, lambda: None)))
            first = _timed(50, aws_lambda.close_client)
            rows.append(_row("wake-up, new client and connection (an instance's first)", first))
            wake.MIN_INTERVAL_S = interval
            wake.reset()
            wake.mark()
            wake.after_request()
            rows.append(_row("coalesced (one was sent within the interval)", _timed(2000, lambda: None)))
        with _hanging() as url:
            os.environ["AWS_ENDPOINT_URL_LAMBDA"] = url
            aws_lambda.close_client()
            quiet.setLevel(logging.ERROR)  # each of these logs that it answered without waiting
            hung = _timed(10, _alone)
            rows.append(_row(f"Invoke API hangs (budget {wake.WAKE_BUDGET_S * 1000:.0f} ms)", hung))
    finally:
        quiet.setLevel(level)
        wake.MIN_INTERVAL_S = interval
        wake.reset()
        aws_lambda.close_client()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _table(
        "Wake-up: time wake.after_request() adds to a reply (in-process, local Invoke API stand-in)",
        ["scenario", "calls", "p50 ms", "p99 ms", "p99 of Discord's 3 s"],
        rows,
    )


def main() -> None:
    bench_wake()


if __name__ == "__main__":
    main()
