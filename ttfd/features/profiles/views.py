"""Profiles as the website shows them (JSON per openapi.yaml) and as a rank card, privacy applied."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from ttfd.core import ledger
from ttfd.core.db import Conn
from ttfd.features.profiles.service import ProfileSettings, ProfileView, load_profile, profile_view

if TYPE_CHECKING:  # Pillow loads only when a card is drawn (cold starts of the JSON functions stay lean)
    from ttfd.features.profiles.rank_card import CardData
    from ttfd.web import Catalog


def _rank(rank: ledger.Rank | None) -> dict[str, Any] | None:
    return {"id": rank.id, "code": rank.code, "min_xp": rank.min_xp} if rank else None


def _stats(view: ProfileView) -> dict[str, Any]:
    u, lv = view.user, view.level
    return {
        "rank": _rank(view.rank),
        "next_rank": _rank(view.next_rank),
        "level": {"level": lv.level, "xp_into_level": lv.xp_into_level, "xp_for_next": lv.xp_for_next},
        "xp": u.xp,
        "coins": u.coins,
        "xp_position": view.xp_position,
        "week_xp": view.week_xp,
        "daily_streak": u.daily_streak,
        "games_played": u.games_played,
        "games_won": u.games_won,
        "messages_sent": u.messages_sent,
    }


def card_version(view: ProfileView, settings: ProfileSettings) -> str:
    """Changes whenever the card would look different, so its URL can be cached by browsers and CDNs.
    A private card's version covers only what it shows: no number can be guessed back from it."""
    u = view.user
    seed = f"{u.name}|{settings.primary_color}|{settings.theme}"
    if settings.show_stats:
        seed += f"|{u.xp}|{u.coins}|{view.xp_position}|{view.week_xp}"
    else:
        seed += "|hidden"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def profile_json(conn: Conn, user_id: int, *, owner: bool, registry: Catalog) -> dict[str, Any]:
    """A profile; its owner also gets stats they hide from others, their privacy settings, and what other
    features add (recent games…) — those sections follow the same privacy rule."""
    user, settings = load_profile(conn, user_id)
    view = profile_view(conn, user)
    body: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "username": user.username,
        "member_since": user.created_at.isoformat(),
        "linked": view.linked,
        "appearance": {
            "theme": settings.theme,
            "primary_color": settings.primary_color,
            "background_image": settings.background_image,
            "music_url": settings.music_url,
            "bio": settings.bio,
        },
        "stats": _stats(view) if owner or settings.show_stats else None,
        # reputation received (ttfd.features.reputation), private with the rest of the stats
        "rep": user.rep if owner or settings.show_stats else None,
        "card_url": f"/api/profile/{user.id}/card.png?v={card_version(view, settings)}",
    }
    if owner or settings.show_stats:
        for name, section in registry.profile_sections:
            body[name] = section(conn, user.id, owner)
    if owner:
        body["privacy"] = {"show_stats": settings.show_stats, "notifications": settings.notifications}
        body["language"] = user.language  # chosen on the site or with /language (null: their platform's)
    return body


def card_data(conn: Conn, user_id: int, viewer_id: int | None = None, *, locale: str = "en") -> tuple[CardData, str]:
    """What the rank card shows (nothing numeric when stats are hidden from this viewer), in `locale` (its words
    and numbers), and its version (the same in every language: the language is part of the card's URL)."""
    from ttfd.features.profiles.rank_card import CardData

    user, settings = load_profile(conn, user_id)
    view = profile_view(conn, user)
    theme: Literal["dark", "light"] = "light" if settings.theme == "light" else "dark"
    lv, nxt = view.level, view.next_rank
    data = CardData(
        name=user.name,
        primary_color=settings.primary_color,
        theme=theme,
        hidden=not settings.show_stats and viewer_id != user.id,
        rank_code=view.rank.code,
        level=lv.level,
        xp_into_level=lv.xp_into_level,
        xp_for_next=lv.xp_for_next,
        xp=user.xp,
        position=view.xp_position,
        coins=user.coins,
        week_xp=view.week_xp,
        next_rank=nxt.code if nxt else None,
        xp_to_next_rank=nxt.min_xp - user.xp if nxt else None,
        locale=locale,
    )
    return data, card_version(view, settings)


@lru_cache(maxsize=256)
def card_png(data: CardData) -> bytes:
    """The rendered card; drawing costs ~15 ms of CPU, so a warm instance keeps recent ones (~35 KB each)."""
    from ttfd.features.profiles.rank_card import render_card

    return render_card(data)
