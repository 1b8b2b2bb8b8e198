"""Development credentials, generated once into .ttfd/dev.env (git-ignored) so simulators can sign."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from nacl.signing import SigningKey

from ttfd.core.db import ROOT

DEV_ENV = ROOT / ".ttfd" / "dev.env"


def _generate() -> dict[str, str]:
    seed = secrets.token_bytes(32)
    return {
        "DISCORD_SIGNING_SEED": seed.hex(),  # dev only: stands in for Discord's private key
        "DISCORD_PUBLIC_KEY": SigningKey(seed).verify_key.encode().hex(),
        "DISCORD_APPLICATION_ID": str(1_100_000_000_000_000_000 + secrets.randbelow(10**15)),
        "DISCORD_BOT_TOKEN": "dev." + secrets.token_urlsafe(32),
        "TELEGRAM_BOT_TOKEN": f"{7_000_000_000 + secrets.randbelow(10**8)}:{secrets.token_urlsafe(26)[:35]}",
        "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "DISCORD_CLIENT_ID": str(1_200_000_000_000_000_000 + secrets.randbelow(10**15)),
        "DISCORD_CLIENT_SECRET": secrets.token_urlsafe(24),
        "SESSION_SECRET": secrets.token_urlsafe(48),
        "SCHEDULER_SECRET": secrets.token_urlsafe(32),
    }


def load_or_create(path: Path | None = None) -> dict[str, str]:
    """Read the dev keys, creating them (mode 0600) the first time and adding keys newer code needs."""
    path = path or DEV_ENV
    keys = _generate()
    if path.exists():
        pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        known = {k.strip(): v.strip() for k, v in pairs}
        if set(keys) <= set(known):
            return known
        keys.update(known)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in keys.items())
    return keys


def apply(keys: dict[str, str]) -> None:
    """Export dev keys into this process's environment; variables already set win."""
    for k, v in keys.items():
        if k != "DISCORD_SIGNING_SEED":
            os.environ.setdefault(k, v)
