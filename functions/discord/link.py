"""/link: make a code here, or redeem one made on another platform."""

from __future__ import annotations

from functions.discord.router import Ctx, Option, OptionType, Reply, Router, reply
from ttfd import accounts

router = Router("link")


@router.command(
    "link",
    "Connect your Telegram/website account",
    Option("code", OptionType.STRING, "A code from /link on another platform"),
)
def link(ctx: Ctx) -> Reply:
    code = ctx.options.get("code")
    if not code:
        made = accounts.create_link_code(ctx.conn, ctx.user.id, "discord", ctx.settings.link_code_ttl_s)
        minutes = ctx.settings.link_code_ttl_s // 60
        return reply(
            f"🔗 Your link code: **`{made.code}`**\nSend `/link {made.code}` to the TTFD Telegram bot (or enter it "
            f"on the website) within {minutes} minutes. It works once.",
            ephemeral=True,
        )
    result = accounts.redeem_link_code(
        ctx.conn, code, "discord", ctx.invoker.id, ctx.invoker.username, ctx.invoker.display
    )
    merged = " Your two accounts were merged: XP, coins and stats were combined." if result.merged_from else ""
    return reply(f"✅ Linked! This Discord account now shares one TTFD profile.{merged}", ephemeral=True)
