-- Issue 20 (Postgres CPU per command): every chat command starts with the read path's identify
-- (ttfd.core.inbound). Sent as a plain statement it was planned at every command, since prepared statements
-- are off behind a transaction pooler; planning was about 60 % of its Postgres CPU. In plpgsql its plan is
-- kept per server connection and reused by every command that connection serves, whoever sent it.
-- Never edit once landed: add a new migration instead (the runner refuses edited migrations).
CREATE FUNCTION inbound_identify(p_platform text, p_ext bigint, p_guild bigint)
RETURNS TABLE (account unified_users, stale boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- stale: the caller's membership of this guild is missing or older than an hour (the write path renews it)
    IF p_platform = 'discord' THEN
        RETURN QUERY SELECT u, (p_guild IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM guild_members m
            WHERE m.guild_id = p_guild AND m.user_id = u.id AND m.last_seen > now() - interval '1 hour'))
        FROM unified_users u WHERE u.discord_id = p_ext;
    ELSIF p_platform = 'telegram' THEN
        RETURN QUERY SELECT u, (p_guild IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM guild_members m
            WHERE m.guild_id = p_guild AND m.user_id = u.id AND m.last_seen > now() - interval '1 hour'))
        FROM unified_users u WHERE u.telegram_id = p_ext;
    ELSE
        RAISE EXCEPTION 'inbound_identify: no chat platform %', p_platform;
    END IF;
END $$;
