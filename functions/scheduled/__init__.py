"""Scheduled functions (Cloud Scheduler → HTTP with OIDC); each is idempotent per period."""
