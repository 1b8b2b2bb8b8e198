-- Verification. Discord: a server's panel (press Verify → a role, optionally after a captcha in a modal).
-- Telegram: join requests answered with a captcha in a private chat, approved or declined once.
-- Rows are keyed by platform ids (not accounts), so account merges leave them alone. Every decision is a
-- conditional UPDATE (pending → something else), so two presses or two schedule runs decide once.

CREATE TABLE verification_panels (
    guild_id    bigint PRIMARY KEY,
    channel_id  bigint NOT NULL,
    role_id     bigint NOT NULL,
    captcha     boolean NOT NULL DEFAULT false,
    message_id  bigint,                      -- the panel message, once posted
    set_by      bigint NOT NULL,             -- the Discord id of the admin who ran /setup verification
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One role grant in flight per member and server: a second press while it is pending is told so.
CREATE TABLE verification_grants (
    guild_id    bigint NOT NULL,
    discord_id  bigint NOT NULL,
    role_id     bigint NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'granted', 'failed')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, discord_id)
);

-- A captcha shown in a Discord modal: the expected answer stays here; the modal carries only the random id.
-- Answered once (open → solved | failed); failed ones in the last window count against more tries.
CREATE TABLE verification_challenges (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 32),
    guild_id    bigint NOT NULL,
    discord_id  bigint NOT NULL,
    answer      text NOT NULL CHECK (length(answer) <= 20),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'solved', 'failed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    answered_at timestamptz
);
CREATE INDEX verification_challenges_failed
    ON verification_challenges (guild_id, discord_id, answered_at) WHERE status = 'failed';

-- A Telegram join request: the captcha (the right emoji among `choices`) is kept here; `round` changes with
-- every new captcha so buttons of an earlier one are refused.
CREATE TABLE verification_join_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id       bigint NOT NULL,
    chat_title    text NOT NULL DEFAULT '' CHECK (length(chat_title) <= 256),
    telegram_id   bigint NOT NULL,
    user_chat_id  bigint NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'declined')),
    reason        text CHECK (reason IN ('solved', 'failed', 'timeout', 'unreachable')),
    choices       text NOT NULL,
    answer        smallint NOT NULL,
    round         integer NOT NULL DEFAULT 1,
    attempts      smallint NOT NULL DEFAULT 0,
    dm_message_id bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    decided_at    timestamptz,
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
-- Telegram keeps one pending request per person and chat; so do we.
CREATE UNIQUE INDEX verification_join_pending
    ON verification_join_requests (chat_id, telegram_id) WHERE status = 'pending';
CREATE INDEX verification_join_due ON verification_join_requests (expires_at) WHERE status = 'pending';
