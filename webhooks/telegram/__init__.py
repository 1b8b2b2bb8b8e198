"""Telegram bot as a stateless webhook function."""
