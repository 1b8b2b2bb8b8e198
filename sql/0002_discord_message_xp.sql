-- Discord message XP without a gateway: channels an admin opted in are polled over REST by a schedule.
CREATE TABLE guild_xp_channels (
    channel_id      bigint PRIMARY KEY,
    guild_id        bigint NOT NULL,
    last_message_id bigint NOT NULL, -- newest message already counted (snowflake); at opt-in: "now"
    added_by        bigint REFERENCES unified_users (id),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    polled_at       timestamptz
);
CREATE INDEX guild_xp_channels_guild ON guild_xp_channels (guild_id);
