-- Balance changes land on the live account, and account locks do not fight foreign keys.
--
-- 1. A request may load an account just before a merge retires it, then wait for its lock behind the
--    merge. Whoever takes the lock follows merged_into to the live account instead of writing to the
--    retired row (which must never hold a balance again).
-- 2. Rows that reference unified_users (guild_members, ledger, daily_claims, ...) take FOR KEY SHARE on
--    the account when inserted; FOR UPDATE conflicts with that, so two requests that had each inserted
--    such a row and then wanted the account deadlocked. Nothing here changes an account's id, so the
--    weaker FOR NO KEY UPDATE is enough and does not conflict with key-share locks.

-- The live account for an id, locked for a change. Retired rows are never locked by a merge again, so
-- holding one while locking the account it points to cannot deadlock.
CREATE FUNCTION lock_live_user(p_user bigint) RETURNS unified_users
LANGUAGE plpgsql AS $$
DECLARE
    r unified_users;
BEGIN
    FOR i IN 1..32 LOOP
        SELECT * INTO r FROM unified_users WHERE id = p_user FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no account %', p_user USING ERRCODE = 'no_data_found';
        END IF;
        IF r.merged_into IS NULL THEN
            RETURN r;
        END IF;
        p_user := r.merged_into;
    END LOOP;
    RAISE EXCEPTION 'merge chain too long at account %', p_user;
END $$;

-- As in 0001, plus: the movement lands on the live account (returned as user_id).
DROP FUNCTION ledger_grant(bigint, text, bigint, text, text, text, boolean, date);
CREATE FUNCTION ledger_grant(
    p_user bigint, p_currency text, p_delta bigint, p_reason text, p_platform text, p_key text,
    p_earned boolean, p_week date
) RETURNS TABLE (status text, user_id bigint, balance_after bigint, rank_before smallint, rank_after smallint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u unified_users;
    v_old bigint;
    v_new bigint;
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
    UPDATE unified_users
    SET xp = v_new, rank_id = r_new.id, updated_at = now(),
        current_season_xp = greatest(current_season_xp + CASE WHEN p_earned THEN p_delta ELSE 0 END, 0)
    WHERE id = u.id;
    IF p_delta > 0 AND p_earned THEN
        INSERT INTO xp_weekly AS w (week, user_id, xp) VALUES (p_week, u.id, p_delta)
        ON CONFLICT (week, user_id) DO UPDATE SET xp = w.xp + EXCLUDED.xp;
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
