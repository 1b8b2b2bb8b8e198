-- Automod: one policy per Discord server or Telegram chat, the Discord AutoMod rules a sync created for it,
-- and the per-person counters Telegram's flood and repeat checks keep (Discord enforces those natively).

CREATE TABLE automod_policies (
    scope           text NOT NULL CHECK (scope IN ('discord', 'telegram')),
    scope_id        bigint NOT NULL,                  -- a guild id or a chat id
    enabled         boolean NOT NULL DEFAULT true,
    bad_words       text[] NOT NULL DEFAULT '{}',      -- lower case; * at either end is a wildcard
    block_invites   boolean NOT NULL DEFAULT false,
    link_mode       text NOT NULL DEFAULT 'off' CHECK (link_mode IN ('off', 'allow', 'deny')),
    links           text[] NOT NULL DEFAULT '{}',      -- domains (a domain covers its subdomains)
    mention_limit   integer CHECK (mention_limit BETWEEN 1 AND 50),
    caps_percent    integer CHECK (caps_percent BETWEEN 50 AND 100),
    caps_min_len    integer NOT NULL DEFAULT 10 CHECK (caps_min_len BETWEEN 1 AND 4000),
    repeat_limit    integer CHECK (repeat_limit BETWEEN 1 AND 20),
    repeat_window_s integer NOT NULL DEFAULT 60 CHECK (repeat_window_s BETWEEN 5 AND 86400),
    flood_limit     integer CHECK (flood_limit BETWEEN 2 AND 100),
    flood_window_s  integer NOT NULL DEFAULT 10 CHECK (flood_window_s BETWEEN 1 AND 3600),
    exempt_roles    bigint[] NOT NULL DEFAULT '{}',    -- Discord
    exempt_channels bigint[] NOT NULL DEFAULT '{}',    -- Discord
    exempt_users    bigint[] NOT NULL DEFAULT '{}',    -- Telegram user ids
    alert_channel   bigint,                            -- Discord: where AutoMod posts its alerts
    updated_by      bigint,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    synced_at       timestamptz,                       -- Discord: the last sync that matched the policy
    sync_error      text,                              -- Discord: why the last sync did not
    PRIMARY KEY (scope, scope_id)
);

-- What a sync created on Discord, by slot (words, invites, links, mentions): the next sync compares these
-- with the policy and with what Discord lists, and writes only what differs.
CREATE TABLE automod_rules (
    guild_id    bigint NOT NULL,
    slot        text NOT NULL CHECK (slot IN ('words', 'invites', 'links', 'mentions')),
    rule_id     bigint NOT NULL,
    fingerprint text NOT NULL,                         -- SHA-256 of the rule body last sent or confirmed
    synced_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, slot)
);

-- Telegram flood (messages in a window since `started_at`) and repeat (the same text again within the window
-- of `last_at`) counters, one row per chat, person and kind, updated in the message's own transaction.
CREATE TABLE automod_counters (
    chat_id    bigint NOT NULL,
    user_id    bigint NOT NULL,                        -- the Telegram user id
    kind       text NOT NULL CHECK (kind IN ('flood', 'repeat')),
    started_at timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    count      integer NOT NULL,
    last_hash  bytea,
    PRIMARY KEY (chat_id, user_id, kind)
);
CREATE INDEX automod_counters_last_at ON automod_counters (last_at);
