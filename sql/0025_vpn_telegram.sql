-- The VPN store on Telegram: the payment method a member picked with the order's buttons (what /pay assumes
-- when its caption names none). Telegram's staff group is a vpn_stores row with scope 'telegram'.
ALTER TABLE vpn_orders ADD COLUMN method text CHECK (method IS NULL OR method ~ '^[a-z0-9_]{1,32}$');
