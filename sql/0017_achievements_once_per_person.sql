-- Achievements pay a person once, after an attack pass:
--   * Shopper is for spending coins: a free item (a server admin may sell one for 0) no longer unlocks it, or
--     anyone could collect its reward for nothing;
--   * at a merge, an achievement both accounts had unlocked keeps one reward: the retired account's is taken
--     back (achievement_take_back), out of its balance before that moves over, as far as the balance allows.
UPDATE achievements SET description = 'Spend coins in the shop.' WHERE code = 'first_purchase';

CREATE OR REPLACE FUNCTION purchases_achievements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.total > 0 THEN
        PERFORM achievement_unlock(NEW.user_id, 'first_purchase', NEW.source_platform);
    END IF;
    RETURN NULL;
END $$;

-- Run by a merge before the unlocks move: for each code both accounts unlocked, the reward the retired side was
-- paid for it (its ledger rows `achievement:<code>:<account>`, on the retired account or one merged into it
-- earlier) leaves the retired account's balance through the ledger, keyed `<that key>:taken back`, and its XP
-- leaves the weekly and (still open) season boards it was counted on. Returns how many rewards and how much.
CREATE FUNCTION achievement_take_back(p_keep bigint, p_gone bigint, p_platform text)
RETURNS TABLE (rewards integer, coins bigint, xp bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    g unified_users;
    r record;
    v_paid text;
    v_cur text;
    v_amount bigint;
    v_take bigint;
    v_status text;
    v_rewards integer := 0;
    v_coins bigint := 0;
    v_xp bigint := 0;
BEGIN
    g := lock_live_user(p_gone);
    IF g.id <> p_gone THEN
        RAISE EXCEPTION 'account % is merged already', p_gone;
    END IF;
    FOR r IN
        SELECT a.code, a.name, u.unlocked_at
        FROM achievement_unlocks u
        JOIN achievement_unlocks k ON k.code = u.code AND k.user_id = p_keep
        JOIN achievements a ON a.code = u.code
        WHERE u.user_id = p_gone
        ORDER BY a.code
    LOOP
        WITH RECURSIVE side(id) AS (
            SELECT p_gone UNION ALL SELECT u.id FROM unified_users u JOIN side s ON u.merged_into = s.id
        )
        SELECT l.source_key INTO v_paid FROM ledger l
        WHERE l.user_id IN (SELECT id FROM side) AND l.source_key LIKE 'achievement:' || r.code || ':%'
          AND l.source_key ~ '^achievement:[a-z0-9_]+:[0-9]+$'
          AND NOT EXISTS (SELECT 1 FROM ledger t WHERE t.source_key = l.source_key || ':taken back')
        ORDER BY l.id LIMIT 1;
        CONTINUE WHEN v_paid IS NULL;  -- nothing was paid for it on this side
        FOREACH v_cur IN ARRAY ARRAY['xp', 'coins'] LOOP
            SELECT coalesce(sum(l.delta), 0) INTO v_amount FROM ledger l
            WHERE l.source_key = v_paid AND l.currency = v_cur;
            v_take := least(v_amount, CASE WHEN v_cur = 'xp' THEN g.xp ELSE g.coins END);
            IF v_take > 0 THEN
                SELECT t.status INTO v_status FROM ledger_grant(
                    p_gone, v_cur, -v_take, 'achievement taken back: ' || r.name || ' (linked account)', p_platform,
                    v_paid || ':taken back', false, NULL) t;
                IF v_status = 'ok' AND v_cur = 'xp' THEN
                    g.xp := g.xp - v_take;
                    v_xp := v_xp + v_take;
                ELSIF v_status = 'ok' THEN
                    g.coins := g.coins - v_take;
                    v_coins := v_coins + v_take;
                END IF;
            END IF;
            IF v_take < v_amount THEN  -- what was spent stays spent: the books say how much could not come back
                INSERT INTO audit_logs (actor_id, action, data)
                VALUES (p_gone, 'merge.taken_back_short', jsonb_build_object(
                    'key', v_paid, 'currency', v_cur, 'wanted', v_amount, 'took', greatest(v_take, 0)));
            END IF;
            IF v_cur = 'xp' AND v_amount > 0 THEN
                UPDATE xp_weekly w SET xp = w.xp - least(w.xp, v_amount)
                WHERE w.week = date_trunc('week', r.unlocked_at AT TIME ZONE 'UTC')::date AND w.user_id = p_gone
                  AND w.xp > 0;
                UPDATE xp_season x SET xp = x.xp - least(x.xp, v_amount) FROM seasons s
                WHERE x.user_id = p_gone AND x.period = s.period AND x.xp > 0 AND s.status = 'open'
                  AND s.starts_at <= r.unlocked_at AND s.ends_at > r.unlocked_at;
            END IF;
        END LOOP;
        v_rewards := v_rewards + 1;
    END LOOP;
    RETURN QUERY SELECT v_rewards, v_coins, v_xp;
END $$;
