-- Seasons: a board of the XP earned between two moments (a calendar month by default), archived when it ends
-- (every player's final position), the top players paid, then the season's XP cleared in short batches.
-- The rollover (ttfd.features.seasons.service) walks a season through status open → archiving → paying →
-- clearing → closed, one short transaction per batch, holding a lease so that one runner works at a time.

CREATE TABLE seasons (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    period        date NOT NULL UNIQUE,  -- the leaderboards' key for this season: the UTC day it starts
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'archiving', 'paying', 'clearing', 'closed')),
    -- the rollover: who works on it until when, and where the current step's batches got to
    lease_owner   text,
    lease_until   timestamptz,
    step_done     bigint NOT NULL DEFAULT 0,
    last_xp       bigint,
    last_user     bigint,
    last_position bigint,
    players       bigint,  -- how many were archived (everyone with season XP)
    paid          integer, -- how many rewards were paid
    created_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    CHECK (ends_at > starts_at),
    CHECK (period = (starts_at AT TIME ZONE 'UTC')::date),
    EXCLUDE USING gist (tstzrange(starts_at, ends_at) WITH &&)  -- never two seasons at one moment
);

-- XP earned in a season, kept by ledger_grant like xp_weekly. No foreign key to seasons: every grant would
-- share-lock that one hot row.
CREATE TABLE xp_season (
    period  date NOT NULL,
    user_id bigint NOT NULL REFERENCES unified_users (id),
    xp      bigint NOT NULL DEFAULT 0 CHECK (xp >= 0),
    PRIMARY KEY (period, user_id)
);
CREATE INDEX xp_season_board ON xp_season (period, xp DESC, user_id);

-- The archive: every player's final position (competition ranking) and XP, written once per season from
-- xp_season by the rollover alone. No foreign keys: a million checks (and key-share locks on a million
-- accounts) would cost the archive more than its rows; seasons and accounts are never deleted. The key
-- leads with the player, so it also finds someone's placements. Other features react to inserts here
-- (achievements).
CREATE TABLE season_standings (
    season_id bigint NOT NULL,
    user_id   bigint NOT NULL,
    position  integer NOT NULL CHECK (position >= 1),
    xp        bigint NOT NULL CHECK (xp > 0),
    PRIMARY KEY (user_id, season_id)
);
CREATE INDEX season_standings_top ON season_standings (season_id, position, user_id);

ALTER TABLE lb_buckets DROP CONSTRAINT lb_buckets_board_check;
ALTER TABLE lb_buckets ADD CONSTRAINT lb_buckets_board_check CHECK (board IN ('xp', 'coins', 'week', 'season'));

-- As xp_weekly_lb, except that clearing an archived season drops its histogram whole instead of row by row:
-- the rollover sets ttfd.clearing_season to that period in its own transaction, and the delete trigger's
-- WHEN skips those rows without entering the function.
CREATE FUNCTION xp_season_lb() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM lb_move('season', OLD.period, (OLD.user_id % 16)::integer, OLD.xp, NULL);
    ELSE
        PERFORM lb_move('season', NEW.period, (NEW.user_id % 16)::integer,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.xp END, NEW.xp);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER xp_season_lb AFTER INSERT OR UPDATE OF xp ON xp_season
    FOR EACH ROW EXECUTE FUNCTION xp_season_lb();
CREATE TRIGGER xp_season_lb_gone AFTER DELETE ON xp_season FOR EACH ROW
    WHEN (current_setting('ttfd.clearing_season', true) IS DISTINCT FROM OLD.period::text)
    EXECUTE FUNCTION xp_season_lb();

-- As in 0001, plus the season board.
CREATE OR REPLACE FUNCTION lb_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM lb_buckets;
    INSERT INTO lb_buckets (board, period, bucket, shard, n)
        SELECT 'xp', date '1970-01-01', lb_bucket(xp), id % 16, count(*) FROM unified_users
        WHERE merged_into IS NULL AND xp > 0 GROUP BY 3, 4;
    INSERT INTO lb_buckets (board, period, bucket, shard, n)
        SELECT 'coins', date '1970-01-01', lb_bucket(coins), id % 16, count(*) FROM unified_users
        WHERE merged_into IS NULL AND coins > 0 GROUP BY 3, 4;
    INSERT INTO lb_buckets (board, period, bucket, shard, n)
        SELECT 'week', week, lb_bucket(xp), user_id % 16, count(*) FROM xp_weekly WHERE xp > 0 GROUP BY 2, 3, 4;
    INSERT INTO lb_buckets (board, period, bucket, shard, n)
        SELECT 'season', period, lb_bucket(xp), user_id % 16, count(*) FROM xp_season WHERE xp > 0
        GROUP BY 2, 3, 4;
$$;

-- As in 0001, plus the season board.
CREATE OR REPLACE FUNCTION lb_rank(p_board text, p_period date, p_value bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    b integer := lb_bucket(p_value);
    hi bigint := ceil(power(2::numeric, (b + 1) / 16.0))::bigint + 1;  -- bound for the range scan only
    above bigint;
    inside bigint;
BEGIN
    SELECT coalesce(sum(n), 0) INTO above FROM lb_buckets
    WHERE board = p_board AND period = p_period AND bucket > b;
    IF p_board = 'xp' THEN
        SELECT count(*) INTO inside FROM unified_users
        WHERE merged_into IS NULL AND xp > p_value AND xp <= hi AND lb_bucket(xp) = b;
    ELSIF p_board = 'coins' THEN
        SELECT count(*) INTO inside FROM unified_users
        WHERE merged_into IS NULL AND coins > p_value AND coins <= hi AND lb_bucket(coins) = b;
    ELSIF p_board = 'season' THEN
        SELECT count(*) INTO inside FROM xp_season
        WHERE period = p_period AND xp > p_value AND xp <= hi AND lb_bucket(xp) = b;
    ELSE
        SELECT count(*) INTO inside FROM xp_weekly
        WHERE week = p_period AND xp > p_value AND xp <= hi AND lb_bucket(xp) = b;
    END IF;
    RETURN 1 + above + inside;
END $$;

-- As in 0004, except that earned XP counts towards the season under way (the one containing now(); none
-- between two seasons, which the rollover never leaves) instead of unified_users.current_season_xp.
CREATE OR REPLACE FUNCTION ledger_grant(
    p_user bigint, p_currency text, p_delta bigint, p_reason text, p_platform text, p_key text,
    p_earned boolean, p_week date
) RETURNS TABLE (status text, user_id bigint, balance_after bigint, rank_before smallint, rank_after smallint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u unified_users;
    v_old bigint;
    v_new bigint;
    v_season date;
    r_old ranks%ROWTYPE;
    r_new ranks%ROWTYPE;
BEGIN
    u := lock_live_user(p_user);
    v_old := CASE WHEN p_currency = 'xp' THEN u.xp ELSE u.coins END;
    -- A retry of a movement that already happened is a duplicate, whatever the balance is now.
    IF EXISTS (SELECT 1 FROM ledger l WHERE l.source_key = p_key AND l.currency = p_currency) THEN
        RETURN QUERY SELECT 'duplicate'::text, u.id, v_old, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    v_new := v_old + p_delta;
    IF v_new < 0 THEN
        RETURN QUERY SELECT 'insufficient'::text, u.id, v_old, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    INSERT INTO ledger (user_id, currency, delta, balance_after, reason, source_platform, source_key)
    VALUES (u.id, p_currency, p_delta, v_new, p_reason, p_platform, p_key)
    ON CONFLICT (source_key, currency) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'duplicate'::text, u.id, v_old, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    IF p_currency = 'coins' THEN
        UPDATE unified_users SET coins = v_new, updated_at = now() WHERE id = u.id;
        RETURN QUERY SELECT 'ok'::text, u.id, v_new, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    SELECT * INTO r_old FROM ranks WHERE min_xp <= v_old ORDER BY min_xp DESC LIMIT 1;
    SELECT * INTO r_new FROM ranks WHERE min_xp <= v_new ORDER BY min_xp DESC LIMIT 1;
    UPDATE unified_users SET xp = v_new, rank_id = r_new.id, updated_at = now() WHERE id = u.id;
    IF p_delta > 0 AND p_earned THEN
        INSERT INTO xp_weekly AS w (week, user_id, xp) VALUES (p_week, u.id, p_delta)
        ON CONFLICT (week, user_id) DO UPDATE SET xp = w.xp + EXCLUDED.xp;
        SELECT s.period INTO v_season FROM seasons s WHERE s.starts_at <= now() AND s.ends_at > now();
        IF v_season IS NOT NULL THEN
            INSERT INTO xp_season AS x (period, user_id, xp) VALUES (v_season, u.id, p_delta)
            ON CONFLICT (period, user_id) DO UPDATE SET xp = x.xp + EXCLUDED.xp;
        END IF;
    END IF;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (u.id, 'xp_change', p_platform, jsonb_build_object('delta', p_delta, 'xp', v_new, 'reason', p_reason));
    IF r_new.min_xp > r_old.min_xp THEN
        INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
        VALUES (u.id, 'rank_up', p_platform, jsonb_build_object(
            'from', r_old.code, 'to', r_new.code, 'from_id', r_old.id, 'to_id', r_new.id, 'xp', v_new));
    END IF;
    RETURN QUERY SELECT 'ok'::text, u.id, v_new, r_old.id, r_new.id;
END $$;

-- The first season: this calendar month (UTC). The rollover schedule creates the ones after it.
INSERT INTO seasons (name, period, starts_at, ends_at)
SELECT to_char(m, 'FMMonth YYYY'), m::date, m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC'
FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AS m) t;
