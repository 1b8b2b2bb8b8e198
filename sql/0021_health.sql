-- Health (ttfd/features/health): when each schedule last ran, and an index to count dead jobs cheaply.
-- Never edit once landed: add a new migration instead (the runner refuses edited migrations).

-- One row per scheduled function, written once at the end of each run (ttfd.features.health.runs).
-- Staleness is judged on last_ok: a schedule that runs but keeps failing is as stale as one that never runs.
CREATE TABLE schedule_runs (
    name          text PRIMARY KEY,
    last_started  timestamptz NOT NULL,
    last_finished timestamptz NOT NULL,
    last_ok       timestamptz,
    last_error    text,
    last_error_at timestamptz,
    runs          bigint NOT NULL DEFAULT 0,
    failures      bigint NOT NULL DEFAULT 0
);

-- Dead jobs stay for inspection; health counts the recent ones and shows the latest few.
CREATE INDEX jobs_dead ON jobs (finished_at) WHERE status = 'dead';
