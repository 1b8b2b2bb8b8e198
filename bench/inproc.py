"""Round trips per chat command, counted in-process: `python -m bench.inproc '{"n": N, "users": [...]}'` with
the function's environment. Each command runs through functions-framework's test client one request at a time;
every network wait of psycopg (one per round trip: a statement, a commit) is counted and timed. Prints one JSON
line per command of bench.platform_bench.COMMANDS."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from functions_framework import create_app

from bench.platform_bench import COMMANDS, Commands

WAITS = {"n": 0, "wall": 0.0, "cpu": 0.0}


def _counting(original: Callable[..., Any]) -> Callable[..., Any]:
    def wait(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        t, c = time.perf_counter(), time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            WAITS["n"] += 1
            WAITS["wall"] += time.perf_counter() - t
            WAITS["cpu"] += time.thread_time() - c

    return wait


def main() -> None:
    spec = json.loads(sys.argv[1])
    n, commands = int(spec["n"]), Commands([int(u) for u in spec["users"]])
    psycopg.Connection.wait = _counting(psycopg.Connection.wait)  # type: ignore[method-assign]
    client = create_app("discord_interactions", "main.py").test_client()  # type: ignore[no-untyped-call]
    for command in COMMANDS:
        for method, path, body, headers in commands.calls(command, n // 5):  # warm-up: imports, pool, catalogs
            client.open(path, method=method, data=body, headers=headers)
        calls = commands.calls(command, n)
        WAITS.update(n=0, wall=0.0, cpu=0.0)
        t0, c0 = time.perf_counter(), time.process_time()
        for method, path, body, headers in calls:
            resp = client.open(path, method=method, data=body, headers=headers)
            if resp.status_code != 200:
                raise RuntimeError(f"{command.label}: {resp.status_code} {resp.data[:200]!r}")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            json.dumps(
                {
                    "label": command.label,
                    "round_trips": WAITS["n"] / n,
                    "wall_ms": wall / n * 1000,
                    "cpu_ms": cpu / n * 1000,
                    "wait_ms": WAITS["wall"] / n * 1000,
                    "wait_cpu_ms": WAITS["cpu"] / n * 1000,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
