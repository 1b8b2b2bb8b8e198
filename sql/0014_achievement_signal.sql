-- As in 0010, plus a notice when an achievement unlocks: the request that caused it learns so from the
-- statement's own answer (ttfd.core.db.take_signal) instead of asking after every write.
CREATE OR REPLACE FUNCTION achievement_unlock(p_user bigint, p_code text, p_platform text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    a achievements;
    v_user bigint;
    v_week date := date_trunc('week', now() AT TIME ZONE 'UTC')::date;
BEGIN
    v_user := (lock_live_user(p_user)).id;
    SELECT * INTO a FROM achievements WHERE code = p_code;
    INSERT INTO achievement_unlocks (user_id, code, source_platform) VALUES (v_user, p_code, p_platform)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF a.reward_coins > 0 THEN
        PERFORM ledger_grant(v_user, 'coins', a.reward_coins, 'achievement ' || a.name, p_platform,
                             'achievement:' || p_code || ':' || v_user, true, v_week);
    END IF;
    IF a.reward_xp > 0 THEN
        PERFORM ledger_grant(v_user, 'xp', a.reward_xp, 'achievement ' || a.name, p_platform,
                             'achievement:' || p_code || ':' || v_user, true, v_week);
    END IF;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (v_user, 'achievement_unlocked', p_platform, jsonb_build_object(
        'code', p_code, 'name', a.name, 'icon', a.icon, 'coins', a.reward_coins, 'xp', a.reward_xp));
    RAISE NOTICE 'ttfd:achievement';
    RETURN true;
END $$;
