"""`make bench [BENCH="platform bursts site season wake fleet cleaner"]
[BENCH_ARGS="--accounts 1000000 --prepared both"]`: platform throughput/latency/CPU per command/cold
start/leaderboards, bursts from one person, the website functions, the season rollover at 1M players, what the
run_jobs wake-up adds to a reply, a local fleet of function processes behind PgBouncer (the capacity model's
costs), then the Cleaner scan/apply bench. `--accounts N` seeds the platform bench's chat commands N accounts
(default 500) and the fleet's (default 1,000,000); `--prepared off|on|both` (default off, as behind a pooler)
which prepared-statement settings the platform bench reports (the fleet's are off: PgBouncer 1.18)."""

from __future__ import annotations

import argparse
import sys

from bench import platform_bench

PARTS = ["platform", "bursts", "site", "season", "wake", "fleet", "cleaner"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("parts", nargs="*", metavar="part", help=" ".join(PARTS))
    parser.add_argument("--accounts", type=int, default=None)
    parser.add_argument("--prepared", choices=["off", "on", "both"], default="off")
    args = parser.parse_args()
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"unknown part(s) {' '.join(sorted(unknown))}; known: {' '.join(PARTS)}")
    only = args.parts or PARTS
    if "platform" in only:
        prepared = ("off", "on") if args.prepared == "both" else (args.prepared,)
        accounts = max(args.accounts or 0, platform_bench.BENCH_USERS)
        platform_bench.main(accounts=accounts, prepared=prepared)
    if "bursts" in only:
        from bench import burst_bench

        burst_bench.main()
    if "site" in only:
        from bench import site_bench

        site_bench.main()
    if "season" in only:
        from bench import season_bench

        season_bench.main()
    if "wake" in only:
        from bench import wake_bench

        wake_bench.main()
    if "fleet" in only:
        from bench import fleet_bench

        fleet_bench.main(accounts=args.accounts or fleet_bench.ACCOUNTS)
    if "cleaner" in only:
        try:
            from bench import cleaner_bench
        except ImportError:
            print("cleaner benchmark not available")
        else:
            cleaner_bench.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
