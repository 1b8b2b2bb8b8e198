-- /daily with the shop's consumables: a streak freeze covers missed days (one per day, used automatically,
-- all or nothing) and an XP boost running at the claim doubles its XP. Otherwise as sql/0005.
DROP FUNCTION daily_claim(bigint, date, integer, integer, integer, integer, integer, integer, text);
CREATE FUNCTION daily_claim(
    p_user bigint, p_today date, p_base integer, p_step integer, p_cap integer, p_every integer,
    p_bonus integer, p_xp integer, p_platform text, p_now timestamptz
) RETURNS TABLE (claimed boolean, user_id bigint, streak integer, coins bigint, xp bigint, bonus boolean,
                 rank_before smallint, rank_after smallint, freezes_used integer, boosted boolean)
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
    IF u.last_daily_on = p_today THEN
        RETURN QUERY SELECT false, u.id, u.daily_streak, 0::bigint, 0::bigint, false, NULL::smallint,
                            NULL::smallint, 0, false;
        RETURN;
    END IF;
    v_key := 'daily:' || u.id || ':' || p_today;
    v_missed := CASE WHEN u.last_daily_on IS NULL OR u.last_daily_on >= p_today THEN 0
                     ELSE p_today - u.last_daily_on - 1 END;
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
                        v_xp > p_xp;
END $$;
