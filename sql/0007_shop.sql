-- Shop and inventory. An item is global (guild_id NULL: every platform and the site) or belongs to one
-- Discord server (a role there, or anything that server's admins sell). Buying, refunding and using are one
-- SQL call each, so the stock, the coins (through ledger_grant), the purchase row and the inventory always
-- move together. Lock order, as everywhere: the account, then the item, then leaderboard buckets.

CREATE TABLE shop_items (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id       bigint,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    description    text NOT NULL DEFAULT '' CHECK (length(description) <= 300),
    price          bigint NOT NULL CHECK (price BETWEEN 0 AND 1000000000000),
    category       text NOT NULL DEFAULT 'general' CHECK (length(category) BETWEEN 1 AND 30),
    stock          integer CHECK (stock >= 0),                 -- NULL: unlimited
    per_user_limit integer CHECK (per_user_limit >= 1),        -- NULL: no limit
    kind           text NOT NULL CHECK (kind IN ('cosmetic', 'role', 'consumable')),
    effect         text CHECK (effect IN ('streak_freeze', 'xp_boost')),
    role_id        bigint,
    image_url      text CHECK (image_url ~ '^https://' AND length(image_url) <= 500),
    active         boolean NOT NULL DEFAULT true,
    sort_order     integer NOT NULL DEFAULT 0,
    created_by     bigint REFERENCES unified_users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'role') = (role_id IS NOT NULL)),
    CHECK (kind <> 'role' OR guild_id IS NOT NULL),
    CHECK ((kind = 'consumable') = (effect IS NOT NULL))
);
-- Names are how people pick items (/buy Gold role): unique among the active items a buyer can see.
CREATE UNIQUE INDEX shop_items_name ON shop_items (coalesce(guild_id, 0), lower(name)) WHERE active;
CREATE INDEX shop_items_listing ON shop_items (guild_id, sort_order, id) WHERE active;

CREATE TABLE purchases (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES unified_users (id),
    item_id         bigint NOT NULL REFERENCES shop_items (id),
    quantity        integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    unit_price      bigint NOT NULL CHECK (unit_price >= 0),
    total           bigint NOT NULL CHECK (total >= 0),
    guild_id        bigint,
    source_platform text NOT NULL,
    request_key     text NOT NULL UNIQUE,
    refunded_at     timestamptz,
    refunded_by     bigint REFERENCES unified_users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchases_user ON purchases (user_id, created_at DESC);
CREATE INDEX purchases_item_user ON purchases (item_id, user_id) WHERE refunded_at IS NULL;

CREATE TABLE inventory (
    user_id     bigint NOT NULL REFERENCES unified_users (id),
    item_id     bigint NOT NULL REFERENCES shop_items (id),
    quantity    integer NOT NULL CHECK (quantity >= 0),
    acquired_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, item_id)
);

-- A consumable used: by /use, or by the daily claim (a streak freeze covering a missed day).
CREATE TABLE item_uses (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES unified_users (id),
    item_id     bigint NOT NULL REFERENCES shop_items (id),
    quantity    integer NOT NULL CHECK (quantity >= 1),
    reason      text NOT NULL,
    request_key text NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_key, item_id)
);

-- Time-limited effects of used consumables (an XP boost until a moment).
CREATE TABLE user_effects (
    user_id bigint NOT NULL REFERENCES unified_users (id),
    effect  text NOT NULL CHECK (effect IN ('xp_boost')),
    until   timestamptz NOT NULL,
    PRIMARY KEY (user_id, effect)
);

-- XP is doubled while a boost runs: the multiplier for an account at a moment (a message's own time).
CREATE FUNCTION xp_multiplier(p_user bigint, p_at timestamptz) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (
        SELECT 1 FROM user_effects WHERE user_id = p_user AND effect = 'xp_boost' AND until > p_at
    ) THEN 2 ELSE 1 END
$$;

-- Buy `p_qty` of an item once per request key. Statuses: ok, duplicate (this key bought already: its
-- purchase is returned), not_found (no such item, or not sold here), inactive, sold_out, limit, owned (a
-- role held already), insufficient.
CREATE FUNCTION shop_buy(
    p_user bigint, p_item bigint, p_qty integer, p_guild bigint, p_platform text, p_key text, p_week date
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
BEGIN
    u := lock_live_user(p_user);
    SELECT * INTO p FROM purchases WHERE request_key = p_key;
    IF FOUND THEN
        RETURN QUERY SELECT 'duplicate'::text, u.id, p.id, p.total, u.coins, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    SELECT * INTO it FROM shop_items WHERE id = p_item FOR UPDATE;
    IF NOT FOUND OR (it.guild_id IS NOT NULL AND it.guild_id IS DISTINCT FROM p_guild) THEN
        RETURN QUERY SELECT 'not_found'::text, u.id, NULL::bigint, NULL::bigint, u.coins, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    IF NOT it.active THEN
        RETURN QUERY SELECT 'inactive'::text, u.id, NULL::bigint, NULL::bigint, u.coins, it.stock, NULL::integer;
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
    UPDATE shop_items SET stock = stock - p_qty, updated_at = now() WHERE id = it.id AND stock IS NOT NULL;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (u.id, 'item_purchased', p_platform,
            jsonb_build_object('item_id', it.id, 'quantity', p_qty, 'total', v_total, 'purchase_id', p.id));
    RETURN QUERY SELECT 'ok'::text, u.id, p.id, v_total,
        (SELECT coins FROM unified_users WHERE id = u.id), it.stock - CASE WHEN it.stock IS NULL THEN 0 ELSE p_qty END,
        v_owned + p_qty;
END $$;

-- Undo a purchase once: coins back through the ledger, the items out of the inventory, the stock back.
-- Statuses: ok, not_found, already (refunded before), used (the items are no longer all in the inventory).
CREATE FUNCTION shop_refund(p_purchase bigint, p_by bigint, p_platform text, p_week date)
RETURNS TABLE (status text, user_id bigint, item_id bigint, quantity integer, total bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u unified_users;
    p purchases;
    v_left integer;
BEGIN
    SELECT * INTO p FROM purchases WHERE id = p_purchase;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::bigint, NULL::integer, NULL::bigint;
        RETURN;
    END IF;
    u := lock_live_user(p.user_id);
    SELECT * INTO p FROM purchases WHERE id = p_purchase FOR UPDATE;
    IF p.refunded_at IS NOT NULL THEN
        RETURN QUERY SELECT 'already'::text, u.id, p.item_id, p.quantity, p.total;
        RETURN;
    END IF;
    PERFORM 1 FROM shop_items WHERE id = p.item_id FOR UPDATE;
    SELECT quantity INTO v_left FROM inventory WHERE user_id = u.id AND item_id = p.item_id FOR UPDATE;
    IF coalesce(v_left, 0) < p.quantity THEN
        RETURN QUERY SELECT 'used'::text, u.id, p.item_id, p.quantity, p.total;
        RETURN;
    END IF;
    IF p.total > 0 THEN
        PERFORM ledger_grant(u.id, 'coins', p.total, 'shop refund', p_platform, 'refund:' || p.id, false, p_week);
    END IF;
    UPDATE inventory SET quantity = quantity - p.quantity WHERE user_id = u.id AND item_id = p.item_id;
    UPDATE shop_items SET stock = stock + p.quantity, updated_at = now() WHERE id = p.item_id AND stock IS NOT NULL;
    UPDATE purchases SET refunded_at = now(), refunded_by = p_by WHERE id = p.id;
    INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
    VALUES (u.id, 'item_refunded', p_platform,
            jsonb_build_object('item_id', p.item_id, 'quantity', p.quantity, 'total', p.total, 'purchase_id', p.id));
    RETURN QUERY SELECT 'ok'::text, u.id, p.item_id, p.quantity, p.total;
END $$;

-- Use one XP boost: it runs for `p_boost_s` from now, or that much longer if one is running. Statuses: ok,
-- duplicate (this key used one already), none (nothing of that item left), not_usable.
CREATE FUNCTION shop_use(p_user bigint, p_item bigint, p_now timestamptz, p_boost_s integer, p_key text)
RETURNS TABLE (status text, user_id bigint, until timestamptz, left_over integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    u unified_users;
    it shop_items;
    v_left integer;
    v_until timestamptz;
BEGIN
    u := lock_live_user(p_user);
    IF EXISTS (SELECT 1 FROM item_uses WHERE request_key = p_key AND item_id = p_item) THEN
        SELECT e.until INTO v_until FROM user_effects e WHERE e.user_id = u.id AND e.effect = 'xp_boost';
        RETURN QUERY SELECT 'duplicate'::text, u.id, v_until, NULL::integer;
        RETURN;
    END IF;
    SELECT * INTO it FROM shop_items WHERE id = p_item;
    SELECT quantity INTO v_left FROM inventory WHERE user_id = u.id AND item_id = p_item FOR UPDATE;
    IF NOT FOUND OR coalesce(v_left, 0) = 0 THEN
        RETURN QUERY SELECT 'none'::text, u.id, NULL::timestamptz, 0;
        RETURN;
    END IF;
    IF it.effect IS DISTINCT FROM 'xp_boost' THEN
        RETURN QUERY SELECT 'not_usable'::text, u.id, NULL::timestamptz, v_left;
        RETURN;
    END IF;
    INSERT INTO user_effects AS e (user_id, effect, until)
    VALUES (u.id, 'xp_boost', p_now + make_interval(secs => p_boost_s))
    ON CONFLICT (user_id, effect) DO UPDATE
        SET until = greatest(e.until, p_now) + make_interval(secs => p_boost_s)
    RETURNING e.until INTO v_until;
    UPDATE inventory SET quantity = quantity - 1 WHERE user_id = u.id AND item_id = p_item;
    INSERT INTO item_uses (user_id, item_id, quantity, reason, request_key) VALUES (u.id, p_item, 1, 'xp boost', p_key);
    RETURN QUERY SELECT 'ok'::text, u.id, v_until, v_left - 1;
END $$;

-- Spend `p_needed` streak freezes (of any item that is one) to cover missed days; all or nothing.
CREATE FUNCTION use_streak_freezes(p_user bigint, p_needed integer, p_key text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_have integer;
    v_take integer;
    v_left integer := p_needed;
BEGIN
    SELECT coalesce(sum(i.quantity), 0) INTO v_have
    FROM inventory i JOIN shop_items s ON s.id = i.item_id
    WHERE i.user_id = p_user AND s.effect = 'streak_freeze' AND i.quantity > 0;
    IF p_needed < 1 OR v_have < p_needed THEN
        RETURN false;
    END IF;
    FOR r IN SELECT i.item_id, i.quantity FROM inventory i JOIN shop_items s ON s.id = i.item_id
             WHERE i.user_id = p_user AND s.effect = 'streak_freeze' AND i.quantity > 0
             ORDER BY i.item_id FOR UPDATE OF i LOOP
        v_take := least(r.quantity, v_left);
        UPDATE inventory SET quantity = quantity - v_take WHERE user_id = p_user AND item_id = r.item_id;
        INSERT INTO item_uses (user_id, item_id, quantity, reason, request_key)
        VALUES (p_user, r.item_id, v_take, 'streak freeze', p_key);
        v_left := v_left - v_take;
        EXIT WHEN v_left = 0;
    END LOOP;
    RETURN true;
END $$;
