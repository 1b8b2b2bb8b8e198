-- Reputation: +1 from one person to another, once per giver → receiver pair per 24 hours, never to oneself.
--
-- Every +1 is a row (who, to whom, why, where, when), unique by the event that gave it, so a redelivered
-- update pays once. The per-account total is unified_users.rep, changed only in the transaction that adds or
-- moves rows (rep_give, the merge hook), so it always equals the count of rows received. Positions come from
-- the lb_buckets histogram (board 'rep'), kept by a trigger as in 0001: about a millisecond at 1M accounts.

ALTER TABLE unified_users ADD COLUMN rep bigint NOT NULL DEFAULT 0 CHECK (rep >= 0);
-- Few accounts have any reputation: the board's index holds only those that do.
CREATE INDEX unified_users_rep_board ON unified_users (rep DESC, id) WHERE merged_into IS NULL AND rep > 0;

CREATE TABLE reputation (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    giver      bigint NOT NULL REFERENCES unified_users (id),
    receiver   bigint NOT NULL REFERENCES unified_users (id),
    reason     text CHECK (length(reason) BETWEEN 1 AND 200),  -- NULL: none given
    platform   text NOT NULL CHECK (platform IN ('discord', 'telegram', 'website')),
    place_id   bigint,  -- the Discord server or Telegram chat it was given in (NULL: a private chat)
    source_key text NOT NULL UNIQUE,  -- the event that gave it: a redelivery finds it and gives nothing
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (giver <> receiver)
);
CREATE INDEX reputation_received ON reputation (receiver, created_at DESC);
CREATE INDEX reputation_pair ON reputation (giver, receiver, created_at DESC);

ALTER TABLE lb_buckets DROP CONSTRAINT lb_buckets_board_check;
ALTER TABLE lb_buckets ADD CONSTRAINT lb_buckets_board_check
    CHECK (board IN ('xp', 'coins', 'week', 'season', 'rep'));

-- As unified_users_lb (0001), for the reputation board. Its own trigger, fired only when the total or the
-- account's liveness changes, so XP and coin updates pay nothing for it.
CREATE FUNCTION unified_users_rep_lb() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    live_old boolean := TG_OP <> 'INSERT' AND OLD.merged_into IS NULL;
    live_new boolean := TG_OP <> 'DELETE' AND NEW.merged_into IS NULL;
    shard integer := (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END) % 16;
BEGIN
    PERFORM lb_move('rep', '1970-01-01', shard,
        CASE WHEN live_old THEN OLD.rep END, CASE WHEN live_new THEN NEW.rep END);
    RETURN NULL;
END $$;
CREATE TRIGGER unified_users_rep_lb AFTER UPDATE OF rep, merged_into ON unified_users FOR EACH ROW
    WHEN (OLD.rep IS DISTINCT FROM NEW.rep OR OLD.merged_into IS DISTINCT FROM NEW.merged_into)
    EXECUTE FUNCTION unified_users_rep_lb();
CREATE TRIGGER unified_users_rep_lb_insert AFTER INSERT ON unified_users FOR EACH ROW
    WHEN (NEW.rep > 0) EXECUTE FUNCTION unified_users_rep_lb();
CREATE TRIGGER unified_users_rep_lb_delete AFTER DELETE ON unified_users FOR EACH ROW
    WHEN (OLD.rep > 0) EXECUTE FUNCTION unified_users_rep_lb();

-- As in 0009, plus the reputation board.
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
    INSERT INTO lb_buckets (board, period, bucket, shard, n)
        SELECT 'rep', date '1970-01-01', lb_bucket(rep), id % 16, count(*) FROM unified_users
        WHERE merged_into IS NULL AND rep > 0 GROUP BY 3, 4;
$$;

-- As in 0009, plus the reputation board (its range scan names `rep > 0` so the partial index serves it), and
-- the range scan's upper bound made exact: the estimate overshoots by up to three values, and where buckets are
-- narrower than one value (small scores: every reputation below 20) those values are whole crowds of ties, which
-- the scan then read only to drop them (4 ms instead of 0.1 for the commonest reputations at 1M accounts).
-- lb_bucket never decreases, so stepping down until it names this bucket finds the largest value in it.
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
    WHILE hi > p_value AND lb_bucket(hi) > b LOOP
        hi := hi - 1;
    END LOOP;
    IF p_board = 'xp' THEN
        SELECT count(*) INTO inside FROM unified_users
        WHERE merged_into IS NULL AND xp > p_value AND xp <= hi AND lb_bucket(xp) = b;
    ELSIF p_board = 'coins' THEN
        SELECT count(*) INTO inside FROM unified_users
        WHERE merged_into IS NULL AND coins > p_value AND coins <= hi AND lb_bucket(coins) = b;
    ELSIF p_board = 'season' THEN
        SELECT count(*) INTO inside FROM xp_season
        WHERE period = p_period AND xp > p_value AND xp <= hi AND lb_bucket(xp) = b;
    ELSIF p_board = 'rep' THEN
        SELECT count(*) INTO inside FROM unified_users
        WHERE merged_into IS NULL AND rep > 0 AND rep > p_value AND rep <= hi AND lb_bucket(rep) = b;
    ELSE
        SELECT count(*) INTO inside FROM xp_weekly
        WHERE week = p_period AND xp > p_value AND xp <= hi AND lb_bucket(xp) = b;
    END IF;
    RETURN 1 + above + inside;
END $$;

-- One +1 in one round trip. Both accounts are locked (in id order, as merges lock them) and followed to the
-- live ones, so the pair rule holds under concurrency: every give to one receiver queues on its row and sees
-- the gives committed before it; a merge of either side waits, or is waited for and followed. Statuses:
-- 'given', 'duplicate' (this event already gave), 'self' (the same person, linked accounts included),
-- 'cooldown' (next_at: when this pair may give again).
CREATE FUNCTION rep_give(
    p_giver bigint, p_receiver bigint, p_reason text, p_platform text, p_place bigint, p_key text,
    p_now timestamptz, p_cooldown interval
) RETURNS TABLE (status text, giver bigint, receiver bigint, total bigint, next_at timestamptz, place bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    g bigint := p_giver;
    r bigint := p_receiver;
    g_next bigint;
    r_next bigint;
    last timestamptz;
    v_total bigint;
    added integer;
BEGIN
    FOR i IN 1..32 LOOP
        PERFORM 1 FROM unified_users WHERE id IN (g, r) ORDER BY id FOR NO KEY UPDATE;
        SELECT merged_into INTO g_next FROM unified_users WHERE id = g;
        SELECT merged_into INTO r_next FROM unified_users WHERE id = r;
        EXIT WHEN g_next IS NULL AND r_next IS NULL;
        g := coalesce(g_next, g);
        r := coalesce(r_next, r);
        IF i = 32 THEN
            RAISE EXCEPTION 'merge chain too long at accounts %, %', g, r;
        END IF;
    END LOOP;
    SELECT u.rep INTO v_total FROM unified_users u WHERE u.id = r;
    IF g = r THEN
        RETURN QUERY SELECT 'self'::text, g, r, v_total, NULL::timestamptz, NULL::bigint;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM reputation x WHERE x.source_key = p_key) THEN
        RETURN QUERY SELECT 'duplicate'::text, g, r, v_total, NULL::timestamptz,
            CASE WHEN v_total > 0 THEN lb_rank('rep', '1970-01-01', v_total) END;
        RETURN;
    END IF;
    SELECT max(x.created_at) INTO last FROM reputation x
    WHERE x.giver = g AND x.receiver = r AND x.created_at > p_now - p_cooldown;
    IF last IS NOT NULL THEN
        RETURN QUERY SELECT 'cooldown'::text, g, r, v_total, last + p_cooldown, NULL::bigint;
        RETURN;
    END IF;
    INSERT INTO reputation (giver, receiver, reason, platform, place_id, source_key, created_at)
    VALUES (g, r, p_reason, p_platform, p_place, p_key, p_now)
    ON CONFLICT (source_key) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    IF added = 1 THEN
        UPDATE unified_users u SET rep = u.rep + 1 WHERE u.id = r RETURNING u.rep INTO v_total;
    END IF;
    RETURN QUERY SELECT CASE WHEN added = 1 THEN 'given' ELSE 'duplicate' END, g, r, v_total,
        NULL::timestamptz, CASE WHEN v_total > 0 THEN lb_rank('rep', '1970-01-01', v_total) END;
END $$;
