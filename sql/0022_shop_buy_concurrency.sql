-- Issue 20 (hot row): shop_buy locked the item FOR UPDATE even when its stock is unlimited, so all buyers of
-- one item queued behind each other. Now an unlimited item is locked FOR SHARE (buyers in parallel; edits,
-- restocks, off-sale and refunds still exclude them), a limited one FOR UPDATE as before. Otherwise as
-- sql/0016. Never edit once landed: add a new migration instead (the runner refuses edited migrations).
CREATE OR REPLACE FUNCTION shop_buy(
    p_user bigint, p_item bigint, p_qty integer, p_guild bigint, p_platform text, p_key text, p_week date,
    p_price bigint
) RETURNS TABLE (status text, user_id bigint, purchase_id bigint, total bigint, balance bigint,
                 stock_left integer, owned integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u unified_users;
    it shop_items;
    p purchases;
    v_bought integer;
    v_total bigint;
    v_grant record;
    v_owned integer;
    v_unlimited boolean;
BEGIN
    u := lock_live_user(p_user);
    SELECT * INTO p FROM purchases WHERE request_key = p_key;
    IF FOUND THEN
        -- The same key for another item, quantity or price is another request, not a retry of this one.
        IF p.item_id <> p_item OR p.quantity <> p_qty OR (p_price IS NOT NULL AND p.unit_price <> p_price) THEN
            RETURN QUERY SELECT 'key_reused'::text, u.id, p.id, p.total, u.coins, NULL::integer, NULL::integer;
            RETURN;
        END IF;
        RETURN QUERY SELECT 'duplicate'::text, u.id, p.id, p.total, u.coins, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    -- An unlimited item is read FOR SHARE: buyers of it run side by side, while an edit, a restock, taking it
    -- off sale or a refund (UPDATE / FOR UPDATE) waits for them and they for it, so the terms read here hold
    -- until commit. A limited item is locked FOR UPDATE: its buyers queue, one stock count at a time. The
    -- stock is peeked unlocked to choose; the lock then reads the latest version, and an item made limited
    -- in between is locked again FOR UPDATE (two buyers caught in that rare upgrade deadlock: one is
    -- aborted and retried whole by ttfd.core.db.run). Made unlimited in between: FOR UPDATE is only stricter.
    -- Per-person limits, 'owned' and the key check rest on the buyer's account lock (lock_live_user above).
    SELECT stock IS NULL INTO v_unlimited FROM shop_items WHERE id = p_item;
    IF v_unlimited THEN
        SELECT * INTO it FROM shop_items WHERE id = p_item FOR SHARE;
        IF FOUND AND it.stock IS NOT NULL THEN
            SELECT * INTO it FROM shop_items WHERE id = p_item FOR UPDATE;
        END IF;
    ELSE
        SELECT * INTO it FROM shop_items WHERE id = p_item FOR UPDATE;
    END IF;
    IF NOT FOUND OR (it.guild_id IS NOT NULL AND it.guild_id IS DISTINCT FROM p_guild) THEN
        RETURN QUERY SELECT 'not_found'::text, u.id, NULL::bigint, NULL::bigint, u.coins, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    IF NOT it.active THEN
        RETURN QUERY SELECT 'inactive'::text, u.id, NULL::bigint, NULL::bigint, u.coins, it.stock, NULL::integer;
        RETURN;
    END IF;
    -- A confirmation buys at the price it showed, or not at all (the item row is locked, shared or not:
    -- no change slips in).
    IF p_price IS NOT NULL AND it.price <> p_price THEN
        RETURN QUERY SELECT 'price_changed'::text, u.id, NULL::bigint, it.price, u.coins, it.stock, NULL::integer;
        RETURN;
    END IF;
    IF it.stock IS NOT NULL AND it.stock < p_qty THEN
        RETURN QUERY SELECT 'sold_out'::text, u.id, NULL::bigint, NULL::bigint, u.coins, it.stock, NULL::integer;
        RETURN;
    END IF;
    SELECT coalesce(sum(quantity), 0) INTO v_owned FROM inventory WHERE user_id = u.id AND item_id = it.id;
    IF it.kind = 'role' AND (v_owned > 0 OR p_qty > 1) THEN
        RETURN QUERY SELECT 'owned'::text, u.id, NULL::bigint, NULL::bigint, u.coins, it.stock, v_owned;
        RETURN;
    END IF;
    SELECT coalesce(sum(quantity), 0) INTO v_bought FROM purchases
    WHERE item_id = it.id AND user_id = u.id AND refunded_at IS NULL;
    IF it.per_user_limit IS NOT NULL AND v_bought + p_qty > it.per_user_limit THEN
        RETURN QUERY SELECT 'limit'::text, u.id, NULL::bigint, NULL::bigint, u.coins, it.stock, v_bought;
        RETURN;
    END IF;
    v_total := it.price * p_qty;
    IF v_total > 0 THEN
        SELECT * INTO v_grant FROM ledger_grant(u.id, 'coins', -v_total, 'shop: ' || it.name, p_platform,
                                                'shop:' || p_key, false, p_week);
        IF v_grant.status = 'insufficient' THEN
            RETURN QUERY SELECT 'insufficient'::text, u.id, NULL::bigint, v_total, u.coins, it.stock, v_owned;
            RETURN;
        END IF;
    END IF;
    INSERT INTO purchases (user_id, item_id, quantity, unit_price, total, guild_id, source_platform, request_key)
    VALUES (u.id, it.id, p_qty, it.price, v_total, p_guild, p_platform, p_key)
    RETURNING * INTO p;
    INSERT INTO inventory AS i (user_id, item_id, quantity) VALUES (u.id, it.id, p_qty)
    ON CONFLICT (user_id, item_id) DO UPDATE SET quantity = i.quantity + EXCLUDED.quantity;
    IF it.stock IS NOT NULL THEN  -- held FOR UPDATE since it.stock was read: the guard can only fail on a bug
        UPDATE shop_items SET stock = stock - p_qty, updated_at = now() WHERE id = it.id AND stock >= p_qty;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'shop_buy: stock of item % moved under its lock', it.id;
        END IF;
    END IF;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (u.id, 'item_purchased', p_platform,
            jsonb_build_object('item_id', it.id, 'quantity', p_qty, 'total', v_total, 'purchase_id', p.id));
    RETURN QUERY SELECT 'ok'::text, u.id, p.id, v_total,
        (SELECT coins FROM unified_users WHERE id = u.id), it.stock - CASE WHEN it.stock IS NULL THEN 0 ELSE p_qty END,
        v_owned + p_qty;
END $$;
