-- Achievements: a catalog, and unlocks checked by triggers in the same transaction as whatever crossed the
-- line (a daily claim, a rank-up, a game, a message, a purchase, a link, a season's archive). An unlock is
-- once per account (its primary key); its reward is a ledger movement keyed by the unlock, so it is paid
-- once too. The jsonb column this replaces and the never-read season counter go.

ALTER TABLE unified_users DROP COLUMN achievements, DROP COLUMN current_season_xp;

CREATE TABLE achievements (
    code         text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,40}$'),
    name         text NOT NULL,
    description  text NOT NULL,
    icon         text NOT NULL,
    hidden       boolean NOT NULL DEFAULT false,  -- shown as "???" until unlocked
    reward_coins bigint NOT NULL DEFAULT 0 CHECK (reward_coins >= 0),
    reward_xp    bigint NOT NULL DEFAULT 0 CHECK (reward_xp >= 0),
    sort_order   integer NOT NULL DEFAULT 0
);

INSERT INTO achievements (code, name, description, icon, hidden, reward_coins, reward_xp, sort_order) VALUES
    ('first_daily',   'Day one',          'Claim your first daily reward.',                     '📅', false, 50,   0,    10),
    ('streak_7',      'On a roll',        'Keep a 7-day daily streak.',                         '🔥', false, 200,  50,   20),
    ('streak_30',     'Unstoppable',      'Keep a 30-day daily streak.',                        '☄️', false, 1000, 300,  30),
    ('rank_c',        'Rank C',           'Reach rank C-.',                                     '🥉', false, 300,  0,    40),
    ('rank_b',        'Rank B',           'Reach rank B-.',                                     '🥈', false, 1000, 0,    50),
    ('rank_a',        'Rank A',           'Reach rank A-.',                                     '🥇', false, 3000, 0,    60),
    ('rank_s',        'Rank S',           'Reach rank S-.',                                     '👑', false, 10000, 0,   70),
    ('first_win',     'Beginner''s luck', 'Win your first game.',                               '🎲', false, 25,   10,   80),
    ('games_100',     'Regular',          'Play 100 games.',                                    '🎰', false, 500,  100,  90),
    ('first_purchase','Shopper',          'Buy something in the shop.',                         '🛍️', false, 25,   0,    100),
    ('all_platforms', 'Everywhere',       'Use TTFD on Discord, Telegram and the website.',    '🌐', false, 300,  100,  110),
    ('messages_1000', 'Chatterbox',       'Send 1,000 messages where TTFD counts them.',        '💬', false, 500,  200,  120),
    ('season_top10',  'Top ten',          'Finish a season in the top 10.',                     '🏆', true,  2000, 500,  130);

CREATE TABLE achievement_unlocks (
    user_id         bigint NOT NULL REFERENCES unified_users (id),
    code            text NOT NULL REFERENCES achievements (code),
    source_platform text NOT NULL,
    told_in         text,  -- the platform whose reply told the player (else a Telegram notice may)
    unlocked_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (user_id, code)
);
CREATE INDEX achievement_unlocks_recent ON achievement_unlocks (user_id, unlocked_at DESC);

-- Unlock once for the live account; pay the reward through the ledger (earned: it counts on the boards)
-- and tell the other features (a Telegram notice). Returns whether this call unlocked it.
CREATE FUNCTION achievement_unlock(p_user bigint, p_code text, p_platform text) RETURNS boolean
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
    RETURN true;
END $$;

-- The thresholds an account's own counters cross. Rank tiers by code, so the ranks table stays the truth.
CREATE FUNCTION unified_users_achievements() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_platform text := coalesce(NEW.primary_platform, 'discord');
    r record;
BEGIN
    IF OLD.last_daily_on IS NULL AND NEW.last_daily_on IS NOT NULL THEN
        PERFORM achievement_unlock(NEW.id, 'first_daily', v_platform);
    END IF;
    IF NEW.daily_streak >= 7 AND OLD.daily_streak < 7 THEN
        PERFORM achievement_unlock(NEW.id, 'streak_7', v_platform);
    END IF;
    IF NEW.daily_streak >= 30 AND OLD.daily_streak < 30 THEN
        PERFORM achievement_unlock(NEW.id, 'streak_30', v_platform);
    END IF;
    IF NEW.rank_id > OLD.rank_id THEN
        FOR r IN SELECT t.code, k.id FROM (VALUES ('rank_c', 'C-'), ('rank_b', 'B-'), ('rank_a', 'A-'), ('rank_s', 'S-'))
                     AS t (code, rank) JOIN ranks k ON k.code = t.rank
                 WHERE NEW.rank_id >= k.id AND OLD.rank_id < k.id LOOP
            PERFORM achievement_unlock(NEW.id, r.code, v_platform);
        END LOOP;
    END IF;
    IF NEW.games_won >= 1 AND OLD.games_won < 1 THEN
        PERFORM achievement_unlock(NEW.id, 'first_win', v_platform);
    END IF;
    IF NEW.games_played >= 100 AND OLD.games_played < 100 THEN
        PERFORM achievement_unlock(NEW.id, 'games_100', v_platform);
    END IF;
    IF NEW.messages_sent >= 1000 AND OLD.messages_sent < 1000 THEN
        PERFORM achievement_unlock(NEW.id, 'messages_1000', v_platform);
    END IF;
    IF NEW.platforms @> ARRAY['discord', 'telegram', 'website'] AND NOT OLD.platforms @> ARRAY['discord', 'telegram', 'website'] THEN
        PERFORM achievement_unlock(NEW.id, 'all_platforms', v_platform);
    END IF;
    RETURN NULL;
END $$;
-- WHEN keeps the common updates (a balance, a name) from calling the function at all.
CREATE TRIGGER unified_users_achievements AFTER UPDATE ON unified_users FOR EACH ROW
    WHEN (NEW.merged_into IS NULL AND (
        NEW.last_daily_on IS DISTINCT FROM OLD.last_daily_on OR NEW.rank_id > OLD.rank_id
        OR NEW.games_played <> OLD.games_played OR NEW.games_won <> OLD.games_won
        OR (NEW.messages_sent >= 1000 AND OLD.messages_sent < 1000) OR NEW.platforms <> OLD.platforms))
    EXECUTE FUNCTION unified_users_achievements();

CREATE FUNCTION purchases_achievements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM achievement_unlock(NEW.user_id, 'first_purchase', NEW.source_platform);
    RETURN NULL;
END $$;
CREATE TRIGGER purchases_achievements AFTER INSERT ON purchases FOR EACH ROW
    EXECUTE FUNCTION purchases_achievements();

-- A season's archive: the top ten's placement (sql/0009 writes the standings in batches).
CREATE FUNCTION season_standings_achievements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM achievement_unlock(NEW.user_id, 'season_top10', 'system');
    RETURN NULL;
END $$;
CREATE TRIGGER season_standings_achievements AFTER INSERT ON season_standings FOR EACH ROW
    WHEN (NEW.position <= 10) EXECUTE FUNCTION season_standings_achievements();
