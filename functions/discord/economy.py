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
    owner: int  # who asked for this message: only they page it in place


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


def leaderboard_message(ctx: Ctx, board: economy.Board, page: int, *, update: bool, private: bool = False) -> Reply:
    """A board page; its buttons remember who asked, so other people's clicks open their own copy."""
    view = economy.board_page(ctx.conn, board, page, ctx.user.id, PAGE_SIZE)
    medal = {1: "🥇", 2: "🥈", 3: "🥉"}
    unit = "coins" if board == "coins" else "XP"
    lines = [f"{medal.get(e.position, f'`#{e.position}`')} **{e.name}** — {e.value:,} {unit}" for e in view.entries]
    mine = f"You: #{view.mine[0]} with {view.mine[1]:,} {unit}" if view.mine else "You are not on this board yet"
    embed = {
        "title": f"🏆 {BOARD_TITLES[board]}",
        "description": "\n".join(lines) or "Nobody here yet — be the first!",
        "color": 0xF1C40F,
        "footer": {"text": f"Page {view.page + 1}/{view.pages} · {mine}"},
    }

    def button(label: str, target: int, disabled: bool) -> dict[str, object]:
        cid = LeaderboardPage(board=board, page=target, owner=ctx.invoker.id).pack()
        return {"type": 2, "style": 2, "label": label, "disabled": disabled, "custom_id": cid}

    buttons = [
        button("◀ Prev", view.page - 1, view.page == 0),
        button("Next ▶", view.page + 1, view.page >= view.pages - 1),
    ]
    return reply(embeds=[embed], components=[{"type": 1, "components": buttons}], update=update, ephemeral=private)


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
    if cid.owner == ctx.invoker.id:
        return leaderboard_message(ctx, cid.board, cid.page, update=True)
    # Someone else's board: page a private copy instead of changing what everyone sees.
    return leaderboard_message(ctx, cid.board, cid.page, update=False, private=True)
