"""TTFD domain: accounts, economy, events, jobs. No HTTP framework or aiogram imports in here."""
