-- Merges and claims, after an attack pass:
--   * a /daily stamped with a day before the account's last claim (one that committed late, across midnight)
--     is refused instead of moving last_daily_on back (which spent freezes on claimed days and then made every
--     later /daily that day hit daily_claims_pkey);
--   * at a merge, the retired account's claim of each day both accounts claimed is taken back
--     (daily_take_back), so one person has one claim a day;
--   * a person's accounts are found from the live one (the index), and the live one from any (live_user_id).

-- Retired accounts point at their survivor: few rows, and every merge walks them.
CREATE INDEX unified_users_merged_into ON unified_users (merged_into) WHERE merged_into IS NOT NULL;

-- The live account an account became (itself when live), without locking anything.
CREATE FUNCTION live_user_id(p_user bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_next bigint;
BEGIN
    FOR i IN 1..32 LOOP
        SELECT merged_into INTO v_next FROM unified_users WHERE id = p_user;
        IF v_next IS NULL THEN
            RETURN p_user;
        END IF;
        p_user := v_next;
    END LOOP;
    RAISE EXCEPTION 'merge chain too long at account %', p_user;
END $$;

-- As sql/0008, except that claims are monotonic per account: a claim stamped before the last claim day is
-- refused (late), and every answer says which day the account's latest claim is for (the next claim is the
-- day after).
DROP FUNCTION daily_claim(bigint, date, integer, integer, integer, integer, integer, integer, text, timestamptz);
CREATE FUNCTION daily_claim(
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
    v_week date := date_trunc('week', p_today)::date;
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

-- A merge of p_gone into p_keep (both locked by the caller, p_gone still live): for each day both people
-- claimed (a person being the live account and every account merged into it), the retired side's claim is
-- taken back. Its XP, then its coins, leave p_gone's balance through the ledger, as far as that balance
-- allows (what was spent stays spent), keyed by the claim so a retry moves nothing twice; the weekly and
-- season boards (while the season is open) forget its XP; its daily_claims row goes, the ledger keeps the
-- history. Returns how many claims and how much was taken.
CREATE FUNCTION daily_take_back(p_keep bigint, p_gone bigint, p_platform text)
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
        WHERE w.week = date_trunc('week', c.day)::date AND w.user_id = p_gone AND w.xp > 0;
        UPDATE xp_season x SET xp = x.xp - least(x.xp, c.xp) FROM seasons s
        WHERE x.user_id = p_gone AND x.period = s.period AND x.xp > 0 AND s.status = 'open'
          AND s.starts_at <= c.claimed_at AND s.ends_at > c.claimed_at;
        DELETE FROM daily_claims d WHERE d.user_id = c.user_id AND d.day = c.day;
        v_days := v_days + 1;
    END LOOP;
    RETURN QUERY SELECT v_days, v_coins, v_xp;
END $$;

-- Repair what late claims left before this: a live account whose last claim day went back behind a claim it
-- has could not claim again that day.
UPDATE unified_users u SET last_daily_on = c.day, updated_at = now()
FROM (SELECT d.user_id, max(d.day) AS day FROM daily_claims d GROUP BY d.user_id) c
WHERE c.user_id = u.id AND u.merged_into IS NULL AND u.last_daily_on < c.day;
