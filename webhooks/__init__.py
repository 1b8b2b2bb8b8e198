"""Inbound webhooks: Telegram (aiogram routers per feature); Stripe comes with premium."""
