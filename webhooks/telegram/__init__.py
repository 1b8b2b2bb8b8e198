"""Telegram bot as a stateless webhook function."""

from webhooks.telegram import lazy_aiogram

lazy_aiogram.install()  # before anything imports aiogram: see lazy_aiogram for why
