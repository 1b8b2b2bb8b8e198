-- The daily's day is a calendar day of the deployment's zone (DAY_TZ; the caller passes p_today in it), while
-- the weekly board's week stays the ISO week in UTC, as for every other XP: a claim's XP counts in the UTC week
-- it is earned in (the transaction's time, as for the season), not in the week of its local day — with DAY_TZ
-- ahead of UTC, a claim early on a Monday morning is still the previous UTC week's. Otherwise as sql/0015;
-- the take-back at a merge takes a claim's XP off the week it was counted in (by when it was claimed).

CREATE OR REPLACE FUNCTION daily_claim(
    p_user bigint, p_today date, p_base integer, p_step integer, p_cap integer, p_every integer,
    p_bonus integer, p_xp integer, p_platform text, p_now timestamptz
) RETURNS TABLE (claimed boolean, user_id bigint, streak integer, coins bigint, xp bigint, bonus boolean,
                 rank_before smallint, rank_after smallint, freezes_used integer, boosted boolean,
                 late boolean, claim_day date)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u unified_users;
    v_streak integer;
    v_coins bigint;
    v_bonus boolean;
    v_key text;
    v_week date := date_trunc('week', now() AT TIME ZONE 'UTC')::date;  -- the UTC week the XP is earned in
    v_missed integer;
    v_frozen integer := 0;
    v_xp integer;
    r_before smallint;
    r_after smallint;
BEGIN
    u := lock_live_user(p_user);
    IF u.last_daily_on >= p_today THEN
        RETURN QUERY SELECT false, u.id, u.daily_streak, 0::bigint, 0::bigint, false, NULL::smallint,
                            NULL::smallint, 0, false, u.last_daily_on > p_today, u.last_daily_on;
        RETURN;
    END IF;
    v_key := 'daily:' || u.id || ':' || p_today;
    v_missed := CASE WHEN u.last_daily_on IS NULL THEN 0 ELSE p_today - u.last_daily_on - 1 END;
    IF v_missed = 0 AND u.last_daily_on = p_today - 1 THEN
        v_streak := u.daily_streak + 1;
    ELSIF v_missed > 0 AND u.daily_streak > 0 AND use_streak_freezes(u.id, v_missed, v_key) THEN
        v_frozen := v_missed;
        v_streak := u.daily_streak + 1;
    ELSE
        v_streak := 1;
    END IF;
    v_coins := least(p_base + p_step * (v_streak - 1), p_cap);
    v_bonus := v_streak % p_every = 0;
    IF v_bonus THEN
        v_coins := v_coins + p_bonus;
    END IF;
    v_xp := p_xp * xp_multiplier(u.id, p_now);
    INSERT INTO daily_claims (user_id, day, streak, coins, xp, source_platform)
    VALUES (u.id, p_today, v_streak, v_coins, v_xp, p_platform);
    UPDATE unified_users SET daily_streak = v_streak, last_daily_on = p_today, updated_at = now() WHERE id = u.id;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (u.id, 'daily_claimed', p_platform,
            jsonb_build_object('streak', v_streak, 'coins', v_coins, 'xp', v_xp, 'freezes_used', v_frozen));
    IF v_xp > 0 THEN
        SELECT g.rank_before, g.rank_after INTO r_before, r_after
        FROM ledger_grant(u.id, 'xp', v_xp, 'daily', p_platform, v_key, true, v_week) g;
    END IF;
    IF v_coins > 0 THEN
        PERFORM ledger_grant(u.id, 'coins', v_coins, 'daily', p_platform, v_key, true, v_week);
    END IF;
    RETURN QUERY SELECT true, u.id, v_streak, v_coins, v_xp::bigint, v_bonus, r_before, r_after, v_frozen,
                        v_xp > p_xp, false, p_today;
END $$;

CREATE OR REPLACE FUNCTION daily_take_back(p_keep bigint, p_gone bigint, p_platform text)
RETURNS TABLE (days integer, coins bigint, xp bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    g unified_users;
    c record;
    v_key text;
    v_take bigint;
    v_days integer := 0;
    v_coins bigint := 0;
    v_xp bigint := 0;
    v_status text;
BEGIN
    g := lock_live_user(p_gone);
    IF g.id <> p_gone THEN
        RAISE EXCEPTION 'account % is merged already', p_gone;
    END IF;
    FOR c IN
        WITH RECURSIVE kept(id) AS (
            SELECT p_keep UNION ALL SELECT u.id FROM unified_users u JOIN kept k ON u.merged_into = k.id
        ), gone(id) AS (
            SELECT p_gone UNION ALL SELECT u.id FROM unified_users u JOIN gone r ON u.merged_into = r.id
        )
        SELECT d.user_id, d.day, d.coins, d.xp, d.claimed_at FROM daily_claims d
        WHERE d.user_id IN (SELECT id FROM gone)
          AND EXISTS (SELECT 1 FROM daily_claims k WHERE k.user_id IN (SELECT id FROM kept) AND k.day = d.day)
        ORDER BY d.day, d.user_id
    LOOP
        v_key := 'daily:' || c.user_id || ':' || c.day || ':taken back';
        v_take := least(c.xp, g.xp);
        IF v_take > 0 THEN
            SELECT t.status INTO v_status FROM ledger_grant(p_gone, 'xp', -v_take, 'daily taken back: linked account',
                                                   p_platform, v_key, false, NULL) t;
            IF v_status = 'ok' THEN
                g.xp := g.xp - v_take;
                v_xp := v_xp + v_take;
            END IF;
        END IF;
        v_take := least(c.coins, g.coins);
        IF v_take > 0 THEN
            SELECT t.status INTO v_status FROM ledger_grant(p_gone, 'coins', -v_take, 'daily taken back: linked account',
                                                   p_platform, v_key, false, NULL) t;
            IF v_status = 'ok' THEN
                g.coins := g.coins - v_take;
                v_coins := v_coins + v_take;
            END IF;
        END IF;
        UPDATE xp_weekly w SET xp = w.xp - least(w.xp, c.xp)
        WHERE w.week = date_trunc('week', c.claimed_at AT TIME ZONE 'UTC')::date AND w.user_id = p_gone AND w.xp > 0;
        UPDATE xp_season x SET xp = x.xp - least(x.xp, c.xp) FROM seasons s
        WHERE x.user_id = p_gone AND x.period = s.period AND x.xp > 0 AND s.status = 'open'
          AND s.starts_at <= c.claimed_at AND s.ends_at > c.claimed_at;
        DELETE FROM daily_claims d WHERE d.user_id = c.user_id AND d.day = c.day;
        v_days := v_days + 1;
    END LOOP;
    RETURN QUERY SELECT v_days, v_coins, v_xp;
END $$;
