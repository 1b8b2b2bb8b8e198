"""`make bench [BENCH="platform bursts site season wake cleaner"]`: platform throughput/latency/cold
start/leaderboards, bursts from one person, the website functions, the season rollover at 1M players, what the
run_jobs wake-up adds to a reply, then the Cleaner scan/apply bench."""

from __future__ import annotations

import sys

from bench import platform_bench


def main() -> int:
    only = sys.argv[1:] or ["platform", "bursts", "site", "season", "wake", "cleaner"]
    if "platform" in only:
        platform_bench.main()
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
