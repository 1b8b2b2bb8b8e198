"""How sizes read to a person, shared by the command line and the window (in this run's language)."""

from __future__ import annotations

from cleaner.i18n import size


def human(n: float) -> str:
    """Bytes as a short human string in binary units: '1.5 MiB' in English, '1,5 МБ' in Russian."""
    return size(n)
