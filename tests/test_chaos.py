"""A CI-sized chaos round (make chaos runs a bigger one): bursts of mixed writes, kill -9 of the serving
process and terminated database connections mid-burst, merges, a season rollover and a midnight in the mix,
everything resent, then the books checked."""

from __future__ import annotations

import io

from tests import chaos


def test_chaos_round_keeps_the_books(fresh_db) -> None:
    out = io.StringIO()
    report = chaos.run(fresh_db, users=25, kills=1, terminations=1, out=out)
    print(out.getvalue())
    assert report.kills == 1 and report.terminated >= 1
    assert report.problems == []
    assert report.mismatched == []
    assert report.generic_errors == []
    # the mix did what it is there for: merges of accounts that both claimed (and were both paid for a season),
    # and claims from before midnight that committed after the next day's
    assert report.facts["daily claims taken back"] > 0 and report.facts["season rewards taken back"] > 0
    assert report.facts["late claims refused"] > 0
