-- Announcements: /update previews a text and, on Confirm, posts it once to the server's announcement channel
-- and, when linked, a Telegram channel (/setup announcements).

-- Where a Discord server's announcements go. The Telegram channel is linked only after the bot was found to be
-- an administrator there who may post, and the linking person's own Telegram account to be one of its admins.
CREATE TABLE announce_targets (
    guild_id         bigint PRIMARY KEY,
    discord_channel  bigint NOT NULL,
    telegram_chat    bigint,
    telegram_title   text,
    configured_by    bigint REFERENCES unified_users (id),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- An announcement: a draft until Confirm moves it (once, in one guarded statement) to posting, then posted.
CREATE TABLE announcements (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id          bigint NOT NULL,
    author_id         bigint NOT NULL REFERENCES unified_users (id),
    author_discord    bigint NOT NULL,
    body              text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    discord_channel   bigint NOT NULL,
    telegram_chat     bigint,
    locale            text NOT NULL,  -- the server's language: the posted title is said in it
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'posting', 'posted', 'cancelled')),
    discord_message   bigint,
    telegram_message  bigint,
    request_key       text NOT NULL UNIQUE,  -- the /update event: a redelivery finds its draft
    created_at        timestamptz NOT NULL DEFAULT now(),
    posted_at         timestamptz
);
CREATE INDEX announcements_guild ON announcements (guild_id, id DESC);
