"""/ping and /help."""

from __future__ import annotations

import time

from functions.discord.router import Ctx, Reply, Router, reply

router = Router("general")


@router.command("ping", "Check that TTFD is answering")
def ping(ctx: Ctx) -> Reply:
    # Snowflakes carry their creation time: (id >> 22) + Discord epoch, in ms.
    created_ms = (ctx.interaction.id >> 22) + 1420070400000
    latency = max(0, int(time.time() * 1000) - created_ms)
    return reply(f"🏓 Pong! ({latency} ms since you pressed enter)", ephemeral=True)


@router.command("help", "What TTFD can do")
def help_(ctx: Ctx) -> Reply:
    from functions.discord.app import root  # the assembled router, to list every command

    lines = []
    for d in root.definitions():
        subs = [o for o in d.get("options", []) if o["type"] == 1]
        if subs:
            lines += [f"`/{d['name']} {s['name']}` — {s['description']}" for s in subs]
        else:
            lines.append(f"`/{d['name']}` — {d['description']}")
    embed = {
        "title": "TTFD commands",
        "description": "\n".join(lines),
        "color": 0x5865F2,
        "footer": {"text": "One account across Discord, Telegram and the web — use /link to connect them."},
    }
    return reply(embeds=[embed], ephemeral=True)
