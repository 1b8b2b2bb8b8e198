-- Foundation: unified accounts, ranks, ledger, leaderboards, events, idempotency, jobs.
-- Never edit once landed: add 0002_... instead (the runner refuses edited migrations).

-- Ranks: rank i is reached at MEE6 level 3*i, i.e. min_xp = sum_{l<3i} (5l^2 + 50l + 100).
CREATE TABLE ranks (
    id     smallint PRIMARY KEY,
    code   text NOT NULL UNIQUE,
    min_xp bigint NOT NULL UNIQUE CHECK (min_xp >= 0)
);
INSERT INTO ranks (id, code, min_xp) VALUES
    (0, 'F-', 0), (1, 'F', 475), (2, 'F+', 1625), (3, 'E-', 3720), (4, 'E', 7030),
    (5, 'E+', 11825), (6, 'D-', 18375), (7, 'D', 26950), (8, 'D+', 37820), (9, 'C-', 51255),
    (10, 'C', 67525), (11, 'C+', 86900), (12, 'B-', 109650), (13, 'B', 136045), (14, 'B+', 166355),
    (15, 'A-', 200850), (16, 'A', 239800), (17, 'A+', 283475), (18, 'S-', 332145), (19, 'S', 386080);

CREATE TABLE unified_users (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    telegram_id       bigint UNIQUE,
    discord_id        bigint UNIQUE,
    website_email     text UNIQUE,
    username          text,
    display_name      text,
    xp                bigint NOT NULL DEFAULT 0 CHECK (xp >= 0),
    coins             bigint NOT NULL DEFAULT 0 CHECK (coins >= 0),
    rank_id           smallint NOT NULL DEFAULT 0 REFERENCES ranks (id),
    games_played      integer NOT NULL DEFAULT 0 CHECK (games_played >= 0),
    games_won         integer NOT NULL DEFAULT 0 CHECK (games_won >= 0),
    messages_sent     bigint NOT NULL DEFAULT 0 CHECK (messages_sent >= 0),
    achievements      jsonb NOT NULL DEFAULT '[]'::jsonb,
    current_season_xp bigint NOT NULL DEFAULT 0 CHECK (current_season_xp >= 0),
    daily_streak      integer NOT NULL DEFAULT 0 CHECK (daily_streak >= 0),
    last_daily_on     date,
    platforms         text[] NOT NULL DEFAULT '{}',
    primary_platform  text CHECK (primary_platform IN ('discord', 'telegram', 'website')),
    -- profile settings and customisation (edited from the website)
    theme             text NOT NULL DEFAULT 'dark' CHECK (theme IN ('dark', 'light')),
    primary_color     text NOT NULL DEFAULT '#5865f2' CHECK (primary_color ~ '^#[0-9a-f]{6}$'),
    background_image  text,
    music_url         text,
    bio               text CHECK (length(bio) <= 500),
    show_email        boolean NOT NULL DEFAULT false,
    show_stats        boolean NOT NULL DEFAULT true,
    notifications     boolean NOT NULL DEFAULT true,
    -- a merged-away account is retired, never deleted: its ledger history stays readable
    merged_into       bigint REFERENCES unified_users (id),
    merged_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((merged_into IS NULL) = (merged_at IS NULL)),
    CHECK (merged_into IS NULL OR (telegram_id IS NULL AND discord_id IS NULL AND website_email IS NULL))
);
CREATE INDEX unified_users_xp_board ON unified_users (xp DESC, id) WHERE merged_into IS NULL;
CREATE INDEX unified_users_coins_board ON unified_users (coins DESC, id) WHERE merged_into IS NULL;
CREATE UNIQUE INDEX unified_users_username ON unified_users (lower(username))
    WHERE merged_into IS NULL AND username IS NOT NULL AND primary_platform = 'website';

-- Append-only movements; a source key pays once per currency, whatever retries happen.
CREATE TABLE ledger (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES unified_users (id),
    currency        text NOT NULL CHECK (currency IN ('xp', 'coins')),
    delta           bigint NOT NULL CHECK (delta <> 0),
    balance_after   bigint NOT NULL CHECK (balance_after >= 0),
    reason          text NOT NULL,
    source_platform text NOT NULL,
    source_key      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_key, currency)
);
CREATE INDEX ledger_user ON ledger (user_id, created_at DESC);
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger is append-only';
END $$;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- Weekly XP (ISO week, UTC, keyed by its Monday), kept by the same transaction as the ledger entry.
CREATE TABLE xp_weekly (
    week    date NOT NULL CHECK (extract(isodow FROM week) = 1),
    user_id bigint NOT NULL REFERENCES unified_users (id),
    xp      bigint NOT NULL DEFAULT 0 CHECK (xp >= 0),
    PRIMARY KEY (week, user_id)
);
CREATE INDEX xp_weekly_board ON xp_weekly (week, xp DESC, user_id);

-- Leaderboard histogram: how many users sit in each log-scale score bucket, so a user's position is
-- a sum over ~1000 small rows plus a count inside one bucket instead of a count over every user.
-- Each bucket is split into 16 shards (user id % 16) so concurrent moves into the same bucket (new players
-- all earning the same first reward) rarely wait on one row. Scores of 0 are not on any board.
CREATE TABLE lb_buckets (
    board  text NOT NULL CHECK (board IN ('xp', 'coins', 'week')),
    period date NOT NULL DEFAULT '1970-01-01',
    bucket integer NOT NULL,
    shard  smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    n      bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (board, period, bucket, shard)
);
CREATE FUNCTION lb_bucket(v bigint) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT floor(16 * ln(v + 1) / ln(2))::integer $$;

CREATE FUNCTION lb_move(p_board text, p_period date, p_shard integer, p_old bigint, p_new bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    b_old integer := CASE WHEN p_old > 0 THEN lb_bucket(p_old) END;
    b_new integer := CASE WHEN p_new > 0 THEN lb_bucket(p_new) END;
    b integer;
BEGIN
    IF b_old IS NOT DISTINCT FROM b_new THEN
        RETURN;
    END IF;
    -- Touch bucket rows in ascending order so two concurrent moves cannot deadlock on each other.
    FOREACH b IN ARRAY ARRAY(SELECT x FROM unnest(ARRAY[b_old, b_new]) AS x WHERE x IS NOT NULL ORDER BY x) LOOP
        INSERT INTO lb_buckets AS t (board, period, bucket, shard, n)
        VALUES (p_board, p_period, b, p_shard, CASE WHEN b = b_new THEN 1 ELSE 0 END)
        ON CONFLICT (board, period, bucket, shard)
        DO UPDATE SET n = t.n + CASE WHEN b = b_new THEN 1 ELSE -1 END;
    END LOOP;
END $$;

CREATE FUNCTION unified_users_lb() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    live_old boolean := TG_OP <> 'INSERT' AND OLD.merged_into IS NULL;
    live_new boolean := TG_OP <> 'DELETE' AND NEW.merged_into IS NULL;
    shard integer := (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END) % 16;
BEGIN
    PERFORM lb_move('xp', '1970-01-01', shard,
        CASE WHEN live_old THEN OLD.xp END, CASE WHEN live_new THEN NEW.xp END);
    PERFORM lb_move('coins', '1970-01-01', shard,
        CASE WHEN live_old THEN OLD.coins END, CASE WHEN live_new THEN NEW.coins END);
    RETURN NULL;
END $$;
CREATE TRIGGER unified_users_lb AFTER INSERT OR DELETE OR UPDATE OF xp, coins, merged_into ON unified_users
    FOR EACH ROW EXECUTE FUNCTION unified_users_lb();

CREATE FUNCTION xp_weekly_lb() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM lb_move('week', OLD.week, (OLD.user_id % 16)::integer, OLD.xp, NULL);
    ELSE
        PERFORM lb_move('week', NEW.week, (NEW.user_id % 16)::integer,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.xp END, NEW.xp);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER xp_weekly_lb AFTER INSERT OR DELETE OR UPDATE OF xp ON xp_weekly
    FOR EACH ROW EXECUTE FUNCTION xp_weekly_lb();

-- Rebuilds the histogram from scratch (after bulk loads with triggers off, or as a repair).
CREATE FUNCTION lb_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM lb_buckets;
    INSERT INTO lb_buckets (board, period, bucket, shard, n)
        SELECT 'xp', date '1970-01-01', lb_bucket(xp), id % 16, count(*) FROM unified_users
        WHERE merged_into IS NULL AND xp > 0 GROUP BY 3, 4;
    INSERT INTO lb_buckets (board, period, bucket, shard, n)
        SELECT 'coins', date '1970-01-01', lb_bucket(coins), id % 16, count(*) FROM unified_users
        WHERE merged_into IS NULL AND coins > 0 GROUP BY 3, 4;
    INSERT INTO lb_buckets (board, period, bucket, shard, n)
        SELECT 'week', week, lb_bucket(xp), user_id % 16, count(*) FROM xp_weekly WHERE xp > 0 GROUP BY 2, 3, 4;
$$;

-- Position on a board with competition ranking: 1 + entries scoring strictly more. Buckets above are summed
-- from lb_buckets; inside the value's own bucket the board's score index is range-scanned.
CREATE FUNCTION lb_rank(p_board text, p_period date, p_value bigint) RETURNS bigint
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
    ELSE
        SELECT count(*) INTO inside FROM xp_weekly
        WHERE week = p_period AND xp > p_value AND xp <= hi AND lb_bucket(xp) = b;
    END IF;
    RETURN 1 + above + inside;
END $$;

-- One ledger movement in one round trip: lock the balance, append (a repeated source key pays nothing),
-- update the balance, and for XP the rank, season, weekly board and events. Returns the outcome.
CREATE FUNCTION ledger_grant(
    p_user bigint, p_currency text, p_delta bigint, p_reason text, p_platform text, p_key text,
    p_earned boolean, p_week date
) RETURNS TABLE (status text, balance_after bigint, rank_before smallint, rank_after smallint)
LANGUAGE plpgsql AS $$
DECLARE
    v_old bigint;
    v_new bigint;
    r_old ranks%ROWTYPE;
    r_new ranks%ROWTYPE;
BEGIN
    IF p_currency = 'xp' THEN
        SELECT xp INTO v_old FROM unified_users WHERE id = p_user FOR UPDATE;
    ELSE
        SELECT coins INTO v_old FROM unified_users WHERE id = p_user FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger_grant: no user %', p_user;
    END IF;
    -- A retry of a movement that already happened is a duplicate, whatever the balance is now.
    IF EXISTS (SELECT 1 FROM ledger WHERE source_key = p_key AND currency = p_currency) THEN
        RETURN QUERY SELECT 'duplicate'::text, v_old, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    v_new := v_old + p_delta;
    IF v_new < 0 THEN
        RETURN QUERY SELECT 'insufficient'::text, v_old, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    INSERT INTO ledger (user_id, currency, delta, balance_after, reason, source_platform, source_key)
    VALUES (p_user, p_currency, p_delta, v_new, p_reason, p_platform, p_key)
    ON CONFLICT (source_key, currency) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'duplicate'::text, v_old, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    IF p_currency = 'coins' THEN
        UPDATE unified_users SET coins = v_new, updated_at = now() WHERE id = p_user;
        RETURN QUERY SELECT 'ok'::text, v_new, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    SELECT * INTO r_old FROM ranks WHERE min_xp <= v_old ORDER BY min_xp DESC LIMIT 1;
    SELECT * INTO r_new FROM ranks WHERE min_xp <= v_new ORDER BY min_xp DESC LIMIT 1;
    UPDATE unified_users
    SET xp = v_new, rank_id = r_new.id, updated_at = now(),
        current_season_xp = greatest(current_season_xp + CASE WHEN p_earned THEN p_delta ELSE 0 END, 0)
    WHERE id = p_user;
    IF p_delta > 0 AND p_earned THEN
        INSERT INTO xp_weekly AS w (week, user_id, xp) VALUES (p_week, p_user, p_delta)
        ON CONFLICT (week, user_id) DO UPDATE SET xp = w.xp + EXCLUDED.xp;
    END IF;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (p_user, 'xp_change', p_platform, jsonb_build_object('delta', p_delta, 'xp', v_new, 'reason', p_reason));
    IF r_new.min_xp > r_old.min_xp THEN
        INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
        VALUES (p_user, 'rank_up', p_platform, jsonb_build_object(
            'from', r_old.code, 'to', r_new.code, 'from_id', r_old.id, 'to_id', r_new.id, 'xp', v_new));
    END IF;
    RETURN QUERY SELECT 'ok'::text, v_new, r_old.id, r_new.id;
END $$;

CREATE TABLE daily_claims (
    user_id bigint NOT NULL REFERENCES unified_users (id),
    day     date NOT NULL,
    streak  integer NOT NULL CHECK (streak >= 1),
    coins   bigint NOT NULL,
    xp      bigint NOT NULL,
    source_platform text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, day)
);

CREATE TABLE link_codes (
    code            text PRIMARY KEY CHECK (length(code) >= 8),
    user_id         bigint NOT NULL REFERENCES unified_users (id),
    source_platform text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    used_by         bigint REFERENCES unified_users (id)
);
CREATE INDEX link_codes_expiry ON link_codes (expires_at);

CREATE TABLE cross_platform_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         bigint NOT NULL REFERENCES unified_users (id),
    event_type      text NOT NULL,
    source_platform text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}'::jsonb,
    processed       boolean NOT NULL DEFAULT false,
    processed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cross_platform_events_pending ON cross_platform_events (created_at) WHERE NOT processed;

-- Claim-once keys for every inbound event; the stored response is replayed on redelivery.
CREATE TABLE idempotency_keys (
    key        text PRIMARY KEY,
    response   jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL DEFAULT now() + interval '7 days'
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 6 CHECK (max_attempts >= 1),
    run_at       timestamptz NOT NULL DEFAULT now(),
    last_error   text,
    dedupe_key   text UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE status = 'pending';

-- Guilds where we have seen a user (no gateway: learned from interactions), for role fan-out.
CREATE TABLE guild_members (
    guild_id  bigint NOT NULL,
    user_id   bigint NOT NULL REFERENCES unified_users (id),
    last_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX guild_members_user ON guild_members (user_id);

CREATE TABLE guild_rank_roles (
    guild_id bigint NOT NULL,
    rank_id  smallint NOT NULL REFERENCES ranks (id),
    role_id  bigint NOT NULL,
    PRIMARY KEY (guild_id, rank_id)
);

CREATE TABLE cooldowns (
    user_id bigint NOT NULL REFERENCES unified_users (id),
    key     text NOT NULL,
    until   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE audit_logs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id   bigint,
    actor_id   bigint REFERENCES unified_users (id),
    action     text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_guild ON audit_logs (guild_id, created_at DESC);
