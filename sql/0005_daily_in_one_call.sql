-- /daily in one round trip: lock the live account, check today's claim, record it with the streak, and
-- pay XP then coins through ledger_grant (XP before coins everywhere: one lock order over the histogram).
-- The reward rule mirrors ttfd.features.daily.reward (a test keeps them equal):
--   coins = min(base + step * (streak - 1), cap), plus `bonus` on every `every`-th consecutive day.
CREATE FUNCTION daily_claim(
    p_user bigint, p_today date, p_base integer, p_step integer, p_cap integer, p_every integer,
    p_bonus integer, p_xp integer, p_platform text
) RETURNS TABLE (claimed boolean, user_id bigint, streak integer, coins bigint, xp bigint, bonus boolean,
                 rank_before smallint, rank_after smallint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u unified_users;
    v_streak integer;
    v_coins bigint;
    v_bonus boolean;
    v_key text;
    v_week date := date_trunc('week', p_today)::date;
    r_before smallint;
    r_after smallint;
BEGIN
    u := lock_live_user(p_user);
    IF u.last_daily_on = p_today THEN
        RETURN QUERY SELECT false, u.id, u.daily_streak, 0::bigint, 0::bigint, false, NULL::smallint, NULL::smallint;
        RETURN;
    END IF;
    v_streak := CASE WHEN u.last_daily_on = p_today - 1 THEN u.daily_streak + 1 ELSE 1 END;
    v_coins := least(p_base + p_step * (v_streak - 1), p_cap);
    v_bonus := v_streak % p_every = 0;
    IF v_bonus THEN
        v_coins := v_coins + p_bonus;
    END IF;
    INSERT INTO daily_claims (user_id, day, streak, coins, xp, source_platform)
    VALUES (u.id, p_today, v_streak, v_coins, p_xp, p_platform);
    UPDATE unified_users SET daily_streak = v_streak, last_daily_on = p_today, updated_at = now() WHERE id = u.id;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (u.id, 'daily_claimed', p_platform, jsonb_build_object('streak', v_streak, 'coins', v_coins, 'xp', p_xp));
    v_key := 'daily:' || u.id || ':' || p_today;
    IF p_xp > 0 THEN
        SELECT g.rank_before, g.rank_after INTO r_before, r_after
        FROM ledger_grant(u.id, 'xp', p_xp, 'daily', p_platform, v_key, true, v_week) g;
    END IF;
    IF v_coins > 0 THEN
        PERFORM ledger_grant(u.id, 'coins', v_coins, 'daily', p_platform, v_key, true, v_week);
    END IF;
    RETURN QUERY SELECT true, u.id, v_streak, v_coins, p_xp::bigint, v_bonus, r_before, r_after;
END $$;
