"""Seasons: XP earned in a season (a calendar month by default, SEASON_LENGTH) makes its own board, next to
all-time, weekly and coins (ttfd.features.leaderboards). When a season ends, the `season_rollover` schedule
archives everyone's final position, pays SEASON_REWARDS to the top and clears the season's XP — exactly
once, whatever the scheduler does; the website shows past seasons and your placements."""

from __future__ import annotations

from typing import Any

from ttfd.core.db import Conn
from ttfd.core.i18n import _
from ttfd.core.settings import get_settings
from ttfd.features.seasons import service
from ttfd.features.seasons.service import SeasonsSettings
from ttfd.registry import Feature, Registry, Schedule
from ttfd.ui.profile import ProfilePart, timestamp
from ttfd.ui.reply import Field
from ttfd.ui.text import when
from ttfd.web import Route, WebCtx, WebResponse, json_response

HIDDEN = _("Hidden player")  # how someone who hides their stats appears to everyone else


def season_rollover(registry: Registry) -> dict[str, Any]:
    """Every few minutes: keep this season and the next created; roll over the ones that ended."""
    return service.rollover(get_settings().section(SeasonsSettings))


def _profile_fields(found: Any) -> tuple[Field, ...]:
    """/profile on Discord and Telegram: this season's XP and position."""
    if found is None:
        return ()
    now = service.Standing(
        found["name"], timestamp(found["ends_at"]), int(found["xp"]), found["position"], timestamp(found["starts_at"])
    )
    ends = when(now.ends_at)
    if now.position:
        score = _("{xp} XP (#{position}) · ends {when}", xp=now.xp, position=now.position, when=ends)
    else:
        score = _("{xp} XP · ends {when}", xp=now.xp, when=ends)
    return (Field(_("Season: {name}", name=now.shown_season), (score,), False),)


PROFILE_FIELDS = ProfilePart(service.STANDING_JSON, _profile_fields)  # read in /profile's one statement


def profile_season(conn: Conn, user_id: int, owner: bool) -> dict[str, Any] | None:
    """The website's profile: this season's XP and position."""
    now = service.standing(conn, user_id)
    if now is None:
        return None
    return {"name": now.shown_season, "ends_at": now.ends_at.isoformat(), "xp": now.xp, "position": now.position}


def _placement(ctx: WebCtx, p: service.Placement, viewer: int | None) -> dict[str, Any]:
    shown = p.public or p.user_id == viewer
    return {
        "position": p.position,
        "user_id": p.user_id if shown else None,
        "name": p.name if shown else ctx.say(HIDDEN),
        "xp": p.xp,
        "me": p.user_id == viewer,
    }


def _get_seasons(ctx: WebCtx) -> WebResponse:
    """The season under way (and your standing in it), the latest past seasons with their top 10, and your
    final placements when logged in; names in the reader's language."""
    viewer = ctx.session.user_id if ctx.session else None
    current: dict[str, Any] | None = None
    if now := service.current(ctx.conn):
        mine = service.standing(ctx.conn, viewer) if viewer is not None else None
        current = {
            "id": now.id,
            "name": ctx.say(service.shown_name(now.starts_at, now.ends_at, now.name)),
            "starts_at": now.starts_at.isoformat(),
            "ends_at": now.ends_at.isoformat(),
            "mine": {"xp": mine.xp, "position": mine.position} if mine else None,
        }
    body = {
        "current": current,
        "past": [
            {
                "id": s.id,
                "name": ctx.say(service.shown_name(s.starts_at, s.ends_at, s.name)),
                "starts_at": s.starts_at.isoformat(),
                "ends_at": s.ends_at.isoformat(),
                "players": s.players,
                "top": [_placement(ctx, p, viewer) for p in s.top],
            }
            for s in service.past(ctx.conn)
        ],
        "mine": None
        if viewer is None
        else [
            {
                "season_id": r["id"],
                "name": ctx.say(service.shown_name(r["starts_at"], r["ends_at"], r["name"])),
                "ends_at": r["ends_at"].isoformat(),
                "position": r["position"],
                "xp": r["xp"],
                "players": r["players"],
            }
            for r in service.placements(ctx.conn, viewer)
        ],
    }
    return json_response(body, headers={"Cache-Control": "private, max-age=30"})


FEATURE = Feature(
    name="seasons",
    summary=__doc__ or "",
    routes=(Route("api_seasons", "/api/seasons", {"GET": _get_seasons}, summary="past seasons and placements"),),
    schedules=(Schedule("season_rollover", "*/5 * * * *", season_rollover, "season archive, rewards, reset"),),
    merge=service.merge_rows,
    settings=SeasonsSettings,
    migrations=("0009_seasons.sql",),
    help=(_("XP earned this season has its own board; when a season ends, its top players are paid in coins."),),
    profile=profile_season,
    profile_fields=PROFILE_FIELDS,
)
