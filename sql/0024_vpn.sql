-- The VPN store: plans kept by operators, each store's configuration (a Discord server or a Telegram staff
-- group), orders and their payments with the screenshot that proves them, the one-time confirmations of an
-- approval, the keys (a client on the 3x-ui panel) people hold, an append-only audit of everything that
-- touches money or the panel, and the panel's health (the circuit breaker).
-- Money is kept in minor units (kopecks, cents) as bigint: no float ever touches an amount.

CREATE TABLE vpn_plans (
    id           serial PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    days         integer NOT NULL CHECK (days BETWEEN 1 AND 3660),
    price_minor  bigint NOT NULL CHECK (price_minor BETWEEN 1 AND 100000000000),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    traffic_gb   integer NOT NULL DEFAULT 0 CHECK (traffic_gb BETWEEN 0 AND 1000000),  -- 0: unlimited
    devices      integer NOT NULL DEFAULT 0 CHECK (devices BETWEEN 0 AND 1000),         -- 0: unlimited
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vpn_plans_name ON vpn_plans (lower(name)) WHERE active;

-- Where a store lives: a Discord server (orders get a private channel there; reviews go to review_channel)
-- or a Telegram staff group (scope_id = the group's chat id; orders are made in private chats with the bot).
CREATE TABLE vpn_stores (
    scope           text NOT NULL CHECK (scope IN ('discord', 'telegram')),
    scope_id        bigint NOT NULL,
    review_channel  bigint NOT NULL,               -- Discord: the staff channel; Telegram: the staff group
    staff_role      bigint,                        -- Discord: support staff (sees orders, writes in them)
    admin_role      bigint,                        -- Discord: approves and rejects (else Manage Server)
    category        bigint,                        -- Discord: where order channels are made
    locale          text,                          -- the language of staff-facing messages
    dashboard_message bigint,                      -- the revenue message edited every 5 minutes
    configured_by   bigint REFERENCES unified_users (id),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, scope_id)
);

-- A key: one client on the panel, made by the order that bought it and extended by renewals.
CREATE TABLE vpn_keys (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES unified_users (id),
    email        text NOT NULL UNIQUE,             -- the panel client's email, derived from the first order
    client_uuid  uuid NOT NULL,
    sub_id       text NOT NULL,
    plan_id      integer NOT NULL REFERENCES vpn_plans (id),
    link         text NOT NULL,                    -- the vless:// link as the panel gives or we build it
    expires_at   timestamptz NOT NULL,
    traffic_gb   integer NOT NULL DEFAULT 0,
    devices      integer NOT NULL DEFAULT 0,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'revoked')),
    reminded     integer NOT NULL DEFAULT 0,       -- the last reminder sent (days before expiry: 3, then 1)
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vpn_keys_user ON vpn_keys (user_id, expires_at DESC);
CREATE INDEX vpn_keys_expiry ON vpn_keys (expires_at) WHERE status = 'active';

CREATE TABLE vpn_orders (
    id             bigserial PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES unified_users (id),
    plan_id        integer NOT NULL REFERENCES vpn_plans (id),
    renews         bigint REFERENCES vpn_keys (id),  -- a renewal extends this key
    -- what was sold, as it was when ordered (a plan edited later does not change an order)
    plan_name      text NOT NULL,
    days           integer NOT NULL,
    amount_minor   bigint NOT NULL CHECK (amount_minor > 0),
    currency       text NOT NULL,
    traffic_gb     integer NOT NULL,
    devices        integer NOT NULL,
    platform       text NOT NULL CHECK (platform IN ('discord', 'telegram')),
    scope          text NOT NULL,
    scope_id       bigint NOT NULL,
    channel_id     bigint,                           -- Discord: the private order channel
    chat_id        bigint,                           -- Telegram: the private chat with the bot
    locale         text NOT NULL DEFAULT 'en',       -- the member's language when they ordered
    status         text NOT NULL DEFAULT 'pending_payment'
                   CHECK (status IN ('pending_payment', 'review', 'provisioning', 'completed', 'cancelled')),
    key_id         bigint REFERENCES vpn_keys (id),  -- the key it made or extended
    request_key    text NOT NULL UNIQUE,             -- the event that made it: a redelivery makes it once
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz,
    channel_delete_at timestamptz,                   -- when the order channel goes (24 h after completion)
    FOREIGN KEY (scope, scope_id) REFERENCES vpn_stores (scope, scope_id)
);
-- One open order per person, whatever the platform: the second /order is refused by this index.
CREATE UNIQUE INDEX vpn_orders_one_open ON vpn_orders (user_id)
    WHERE status IN ('pending_payment', 'review', 'provisioning');
CREATE INDEX vpn_orders_user ON vpn_orders (user_id, id DESC);
CREATE INDEX vpn_orders_channel ON vpn_orders (channel_id) WHERE channel_id IS NOT NULL;

-- A payment: the proof a member sent for an order, and what staff decided. Revenue is approved payments.
CREATE TABLE vpn_payments (
    id              bigserial PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES vpn_orders (id),
    user_id         bigint NOT NULL REFERENCES unified_users (id),
    method          text NOT NULL CHECK (length(method) BETWEEN 1 AND 32),
    amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
    currency        text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'refunded')),
    reviewer_id     bigint REFERENCES unified_users (id),
    reason          text CHECK (length(reason) <= 512),
    review_channel  bigint,
    review_message  bigint,                          -- the staff message with Approve / Reject
    flagged         text,                            -- why staff should look twice (a near-duplicate proof)
    request_key     text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    reviewed_at     timestamptz,
    refunded_at     timestamptz
);
-- One payment under review per order.
CREATE UNIQUE INDEX vpn_payments_one_pending ON vpn_payments (order_id) WHERE status = 'pending';
CREATE INDEX vpn_payments_revenue ON vpn_payments (reviewed_at) WHERE status = 'approved';

-- The screenshot, copied when it was sent (Discord's CDN URLs expire), metadata stripped. Postgres keeps it:
-- it is small, commits with its payment, is backed up with the books, and needs no second service.
CREATE TABLE vpn_proofs (
    payment_id    bigint PRIMARY KEY REFERENCES vpn_payments (id),
    order_id      bigint NOT NULL REFERENCES vpn_orders (id),
    sha256        text NOT NULL,                     -- of the bytes as sent: exact duplicates
    phash         bigint NOT NULL,                   -- perceptual hash: re-encoded or cropped duplicates
    detail        bytea NOT NULL,                    -- a finer hash for candidates (ttfd/features/vpn/proof.py)
    content_type  text NOT NULL,
    width         integer NOT NULL,
    height        integer NOT NULL,
    data          bytea,                             -- emptied after VPN_PROOF_DAYS (bank details inside)
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vpn_proofs_sha ON vpn_proofs (sha256);

-- Approve opens a confirmation: one-time, five minutes, bound to the admin who pressed Approve.
CREATE TABLE vpn_sessions (
    id           bigint PRIMARY KEY,                 -- random; the Confirm button carries it
    payment_id   bigint NOT NULL REFERENCES vpn_payments (id),
    actor_id     bigint NOT NULL REFERENCES unified_users (id),
    action       text NOT NULL CHECK (action IN ('approve')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    consumed_at  timestamptz
);

-- Everything that touches money or the panel, by whom and with what outcome. Nothing updates or deletes it.
CREATE TABLE vpn_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id    bigint,                              -- an account (none for schedules and jobs on their own)
    action      text NOT NULL,
    order_id    bigint,
    payment_id  bigint,
    outcome     text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX vpn_audit_order ON vpn_audit (order_id, id);
CREATE FUNCTION vpn_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vpn_audit is append-only';
END $$;
CREATE TRIGGER vpn_audit_no_change BEFORE UPDATE OR DELETE ON vpn_audit
    FOR EACH ROW EXECUTE FUNCTION vpn_audit_append_only();
CREATE TRIGGER vpn_audit_no_truncate BEFORE TRUNCATE ON vpn_audit
    FOR EACH STATEMENT EXECUTE FUNCTION vpn_audit_append_only();

-- The panel's health: consecutive failures open the breaker (new orders refused), one success closes it.
CREATE TABLE vpn_health (
    id           integer PRIMARY KEY CHECK (id = 1),
    failures     integer NOT NULL DEFAULT 0,
    down         boolean NOT NULL DEFAULT false,
    alerted      boolean NOT NULL DEFAULT false,
    detail       text,
    checked_at   timestamptz,
    changed_at   timestamptz
);
INSERT INTO vpn_health (id) VALUES (1);

-- What vpn_reconcile last told the staff (it speaks again only when the differences change).
CREATE TABLE vpn_reconcile (
    id           integer PRIMARY KEY CHECK (id = 1),
    digest       text,
    findings     jsonb NOT NULL DEFAULT '[]'::jsonb,
    checked_at   timestamptz,
    reported_at  timestamptz
);
INSERT INTO vpn_reconcile (id) VALUES (1);
