"""/daily and /leaderboard (with Prev/Next buttons)."""

from __future__ import annotations

from typing import Literal

from functions.discord.router import Ctx, CustomId, Option, OptionType, Reply, Router, reply
from ttfd import economy
from ttfd.profiles import until

router = Router("economy")
PAGE_SIZE = 10
BOARD_TITLES = {"xp": "All-time XP", "week": "This week's XP", "coins": "Coins"}


class LeaderboardPage(CustomId):
    prefix = "lb"
    board: Literal["xp", "week", "coins"]
    page: int


@router.command("daily", "Claim your daily reward (once per UTC day, on any platform)")
def daily(ctx: Ctx) -> Reply:
    now = economy.utc_now()
    result = economy.claim_daily(ctx.conn, ctx.settings, ctx.user.id, "discord", now)
    if not result.claimed:
        return reply(
            f"⏳ You already claimed today. Next claim in **{until(result.next_claim_at, now)}** "
            f"(<t:{int(result.next_claim_at.timestamp())}:R>). Streak: {result.streak} 🔥",
            ephemeral=True,
        )
    bonus = " 🎁 Weekly bonus included!" if result.bonus else ""
    rank = ""
    if result.movement_xp and result.movement_xp.ranked_up and result.movement_xp.rank_after:
        rank = f"\n🎉 Rank up: **{result.movement_xp.rank_after.code}**!"
    return reply(
        f"💰 +{result.coins} coins, +{result.xp} XP. Streak: **{result.streak}** 🔥{bonus}{rank}\n"
        f"Next claim <t:{int(result.next_claim_at.timestamp())}:R>."
    )


def leaderboard_message(ctx: Ctx, board: economy.Board, page: int, update: bool) -> Reply:
    total = economy.board_size(ctx.conn, board)
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(0, min(page, pages - 1))
    entries = economy.top(ctx.conn, board, PAGE_SIZE, page * PAGE_SIZE)
    medal = {1: "🥇", 2: "🥈", 3: "🥉"}
    unit = "coins" if board == "coins" else "XP"
    lines = [f"{medal.get(e.position, f'`#{e.position}`')} **{e.name}** — {e.value:,} {unit}" for e in entries]
    mine = economy.position(ctx.conn, board, ctx.user.id)
    footer = f"You: #{mine[0]} with {mine[1]:,} {unit}" if mine else "You are not on this board yet"
    embed = {
        "title": f"🏆 {BOARD_TITLES[board]}",
        "description": "\n".join(lines) or "Nobody here yet — be the first!",
        "color": 0xF1C40F,
        "footer": {"text": f"Page {page + 1}/{pages} · {footer}"},
    }
    buttons = [
        {
            "type": 2,
            "style": 2,
            "label": "◀ Prev",
            "disabled": page == 0,
            "custom_id": LeaderboardPage(board=board, page=page - 1).pack(),
        },
        {
            "type": 2,
            "style": 2,
            "label": "Next ▶",
            "disabled": page >= pages - 1,
            "custom_id": LeaderboardPage(board=board, page=page + 1).pack(),
        },
    ]
    return reply(embeds=[embed], components=[{"type": 1, "components": buttons}], update=update)


@router.command(
    "leaderboard",
    "Top players",
    Option(
        "board",
        OptionType.STRING,
        "Which board",
        choices=(("XP", "xp"), ("This week", "week"), ("Coins", "coins")),
    ),
)
def leaderboard(ctx: Ctx) -> Reply:
    chosen = ctx.options.get("board")
    board: economy.Board = chosen if chosen in ("xp", "week", "coins") else "xp"
    return leaderboard_message(ctx, board, 0, update=False)


@router.component(LeaderboardPage)
def leaderboard_page(ctx: Ctx, cid: LeaderboardPage) -> Reply:
    return leaderboard_message(ctx, cid.board, cid.page, update=True)
