-- Moderation: numbered cases per Discord server or Telegram chat, each server's settings (mod log, warning
-- threshold), and a short-lived cache of what Discord says about a server (roles, members) for the checks.

CREATE TABLE mod_settings (
    scope           text NOT NULL CHECK (scope IN ('discord', 'telegram')),
    scope_id        bigint NOT NULL,              -- a guild id or a chat id
    last_case       integer NOT NULL DEFAULT 0,   -- the counter: one row lock numbers cases without gaps
    modlog_channel  bigint,
    warn_threshold  integer CHECK (warn_threshold BETWEEN 1 AND 50),
    warn_action     text CHECK (warn_action IN ('timeout', 'kick', 'ban')),
    warn_duration_s integer CHECK (warn_duration_s BETWEEN 60 AND 2419200),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, scope_id),
    CHECK ((warn_threshold IS NULL) = (warn_action IS NULL))
);

CREATE TABLE mod_cases (
    scope          text NOT NULL,
    scope_id       bigint NOT NULL,
    number         integer NOT NULL CHECK (number >= 1),
    action         text NOT NULL CHECK (action IN ('warn', 'kick', 'ban', 'unban', 'timeout', 'untimeout', 'clear',
                                                    'delete')),
    target_id      bigint,                        -- the platform user (none for /clear of everyone)
    target_name    text,
    moderator_id   bigint,                        -- the platform user who acted (none for automod)
    moderator_name text,
    reason         text CHECK (length(reason) <= 512),
    duration_s     integer CHECK (duration_s > 0),
    expires_at     timestamptz,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'revoked', 'deleted')),
    source         text NOT NULL CHECK (source IN ('discord', 'telegram', 'automod')),
    request_key    text NOT NULL UNIQUE,          -- the event that opened it: a retried job opens it once
    details        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, scope_id, number),
    FOREIGN KEY (scope, scope_id) REFERENCES mod_settings (scope, scope_id)
);
CREATE INDEX mod_cases_target ON mod_cases (scope, scope_id, target_id, number DESC);

-- Open a case with the next number of its server or chat (creating the settings row on first use), once per
-- request key: a repeated key (a retried job) returns the case it opened before.
CREATE FUNCTION mod_case_open(
    p_scope text, p_scope_id bigint, p_action text, p_target bigint, p_target_name text, p_moderator bigint,
    p_moderator_name text, p_reason text, p_duration_s integer, p_expires timestamptz, p_source text, p_key text,
    p_details jsonb
) RETURNS mod_cases
LANGUAGE plpgsql AS $$
DECLARE
    c mod_cases;
    v_last integer;
BEGIN
    INSERT INTO mod_settings (scope, scope_id) VALUES (p_scope, p_scope_id) ON CONFLICT DO NOTHING;
    -- The counter row's lock orders every case of this server: numbers without gaps, also concurrently.
    SELECT last_case INTO v_last FROM mod_settings WHERE scope = p_scope AND scope_id = p_scope_id FOR UPDATE;
    SELECT * INTO c FROM mod_cases WHERE request_key = p_key;
    IF FOUND THEN
        RETURN c;
    END IF;
    UPDATE mod_settings SET last_case = v_last + 1 WHERE scope = p_scope AND scope_id = p_scope_id;
    INSERT INTO mod_cases (scope, scope_id, number, action, target_id, target_name, moderator_id, moderator_name,
                           reason, duration_s, expires_at, source, request_key, details)
    VALUES (p_scope, p_scope_id, v_last + 1, p_action, p_target, p_target_name, p_moderator, p_moderator_name,
            p_reason, p_duration_s, p_expires, p_source, p_key, coalesce(p_details, '{}'::jsonb))
    RETURNING * INTO c;
    RETURN c;
END $$;

-- What a platform said, briefly: a server's roles, a member, a chat member (checks before acting).
CREATE TABLE api_cache (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    expires_at timestamptz NOT NULL
);
