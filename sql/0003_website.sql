-- Website: browser sessions, one-time OAuth states, Postgres-backed rate limits.

-- A session is looked up by the SHA-256 of its token (a leaked table does not leak usable cookies).
-- Tokens rotate: the previous hash stays valid for a short grace so requests already in flight still pass.
CREATE TABLE sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES unified_users (id),
    token_hash      bytea NOT NULL UNIQUE,
    prev_token_hash bytea UNIQUE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    rotated_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    user_agent      text
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- OAuth `state`: single use, short-lived, and bound to the browser that started the login by the hash of
-- a nonce kept in that browser's HttpOnly cookie.
CREATE TABLE oauth_states (
    state        text PRIMARY KEY,
    browser_hash bytea NOT NULL,
    next_path    text NOT NULL DEFAULT '/me',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);

-- Fixed-window counters shared by every function instance.
CREATE TABLE rate_limits (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_window ON rate_limits (window_start);

-- Public profiles are addressed as /u/<id or username>: find a username without a sequential scan.
CREATE INDEX unified_users_username_lookup ON unified_users (lower(username)) WHERE merged_into IS NULL;
