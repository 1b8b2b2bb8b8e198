"""/profile and /rank."""

from __future__ import annotations

from typing import Any

from functions.discord.router import Ctx, Option, OptionType, Reply, Router, reply
from ttfd import accounts
from ttfd.core.errors import DomainError
from ttfd.profiles import ProfileView, profile_view, progress_bar

router = Router("profile")
USER_OPTION = Option("user", OptionType.USER, "Whose profile (default: yours)")
PLATFORM_ICONS = {"discord": "🎮 Discord", "telegram": "✈️ Telegram", "website": "🌐 Website"}


def _target(ctx: Ctx) -> accounts.User:
    other = ctx.resolved_user("user")
    if other is None or other.id == ctx.invoker.id:
        return ctx.user
    found = accounts.find_user(ctx.conn, "discord", other.id)
    if found is None:
        raise DomainError(f"**{other.display}** has no TTFD profile yet.")
    return found


def profile_embed(view: ProfileView) -> dict[str, Any]:
    """The profile card as a Discord embed."""
    u, lv = view.user, view.level
    to_next = f"{view.next_rank.min_xp - u.xp:,} XP to {view.next_rank.code}" if view.next_rank else "max rank"
    return {
        "title": f"{u.name} — rank {view.rank.code}",
        "color": 0x5865F2,
        "fields": [
            {
                "name": "Level",
                "value": f"**{lv.level}** {progress_bar(lv.progress)} {lv.xp_into_level}/{lv.xp_for_next}",
                "inline": False,
            },
            {"name": "XP", "value": f"{u.xp:,} (#{view.xp_position or '—'})", "inline": True},
            {"name": "Coins", "value": f"{u.coins:,}", "inline": True},
            {"name": "Daily streak", "value": f"{u.daily_streak} 🔥", "inline": True},
            {"name": "Games", "value": f"{u.games_won}/{u.games_played} won", "inline": True},
            {"name": "This week", "value": f"{view.week_xp:,} XP", "inline": True},
            {"name": "Next rank", "value": to_next, "inline": True},
            {"name": "Linked", "value": " · ".join(PLATFORM_ICONS[p] for p in view.linked), "inline": False},
        ],
    }


@router.command("profile", "Show a TTFD profile", USER_OPTION)
def profile(ctx: Ctx) -> Reply:
    return reply(embeds=[profile_embed(profile_view(ctx.conn, _target(ctx)))])


@router.command("rank", "Show rank, level and leaderboard position", USER_OPTION)
def rank(ctx: Ctx) -> Reply:
    view = profile_view(ctx.conn, _target(ctx))
    lv = view.level
    text = (
        f"**{view.user.name}** · rank **{view.rank.code}** · level **{lv.level}** · #{view.xp_position or '—'}\n"
        f"{progress_bar(lv.progress)} {lv.xp_into_level}/{lv.xp_for_next} XP to level {lv.level + 1}"
    )
    return reply(text)
