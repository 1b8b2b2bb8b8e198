"""Outgoing HTTP clients (Discord REST, Telegram Bot API): timeouts, 429/5xx retries, typed errors."""
