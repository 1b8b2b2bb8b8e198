-- Mini-games against the house (coinflip, dice, rock-paper-scissors) and duels between two players.
-- Every stake and payout is a ledger movement keyed by the event that caused it, so a retried or
-- redelivered bet can never be charged or paid twice.

CREATE TABLE games (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES unified_users (id),
    game            text NOT NULL CHECK (game IN ('coinflip', 'dice', 'rps', 'duel')),
    bet             bigint NOT NULL CHECK (bet > 0),
    choice          text,
    outcome         text NOT NULL,
    payout          bigint NOT NULL CHECK (payout >= 0),
    won             boolean NOT NULL,
    source_platform text NOT NULL,
    event_key       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_key, user_id)
);
CREATE INDEX games_user ON games (user_id, created_at DESC);

CREATE TABLE duels (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    challenger_id bigint NOT NULL REFERENCES unified_users (id),
    opponent_id   bigint NOT NULL REFERENCES unified_users (id),
    bet           bigint NOT NULL CHECK (bet > 0),
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'accepted', 'declined', 'cancelled', 'expired')),
    winner_id     bigint REFERENCES unified_users (id),
    platform      text NOT NULL,
    event_key     text NOT NULL UNIQUE,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    settled_at    timestamptz,
    CHECK (challenger_id <> opponent_id),
    CHECK ((status = 'accepted') = (winner_id IS NOT NULL))
);
CREATE INDEX duels_open ON duels (expires_at) WHERE status = 'open';

-- One bet against the house in one round trip: take the per-person cooldown, lock the live account, debit
-- the stake and credit the payout through the ledger, record the game and count it. The outcome was drawn
-- by the caller (Python's `secrets`); nothing here is random. Statuses: ok, cooldown, insufficient.
CREATE FUNCTION game_play(
    p_user bigint, p_game text, p_bet bigint, p_choice text, p_outcome text, p_won boolean, p_payout bigint,
    p_platform text, p_key text, p_cooldown_s integer, p_week date
) RETURNS TABLE (status text, user_id bigint, balance bigint, retry_after double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u unified_users;
    v_until timestamptz;
BEGIN
    u := lock_live_user(p_user);
    IF p_cooldown_s > 0 THEN
        INSERT INTO cooldowns AS c (user_id, key, until)
        VALUES (u.id, 'games', now() + make_interval(secs => p_cooldown_s))
        ON CONFLICT (user_id, key) DO UPDATE SET until = EXCLUDED.until WHERE c.until <= now()
        RETURNING until INTO v_until;
        IF v_until IS NULL THEN
            RETURN QUERY SELECT 'cooldown'::text, u.id, u.coins,
                extract(epoch FROM (SELECT c.until FROM cooldowns c WHERE c.user_id = u.id AND c.key = 'games') - now())::double precision;
            RETURN;
        END IF;
    END IF;
    IF u.coins < p_bet THEN
        RETURN QUERY SELECT 'insufficient'::text, u.id, u.coins, NULL::double precision;
        RETURN;
    END IF;
    PERFORM ledger_grant(u.id, 'coins', -p_bet, 'game ' || p_game, p_platform, p_key || ':stake', true, p_week);
    IF p_payout > 0 THEN
        PERFORM ledger_grant(u.id, 'coins', p_payout, 'game ' || p_game, p_platform, p_key || ':payout', true, p_week);
    END IF;
    INSERT INTO games (user_id, game, bet, choice, outcome, payout, won, source_platform, event_key)
    VALUES (u.id, p_game, p_bet, p_choice, p_outcome, p_payout, p_won, p_platform, p_key);
    UPDATE unified_users
    SET games_played = games_played + 1, games_won = games_won + CASE WHEN p_won THEN 1 ELSE 0 END
    WHERE id = u.id;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (u.id, 'game_played', p_platform,
            jsonb_build_object('game', p_game, 'bet', p_bet, 'won', p_won, 'payout', p_payout));
    RETURN QUERY SELECT 'ok'::text, u.id, (SELECT coins FROM unified_users WHERE id = u.id), NULL::double precision;
END $$;
