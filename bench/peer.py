"""The peer issue 20 compares `/profile` with: flask-discord-interactions (a popular Flask library for HTTP
Discord bots) answering `/ping` with "Pong!" — signature verified, no database. Served by gunicorn with
functions-framework's worker settings (bench.platform_bench._function)."""

from __future__ import annotations

import os

from flask import Flask
from flask_discord_interactions import Context, DiscordInteractions

app = Flask(__name__)
app.config.update(
    DISCORD_CLIENT_ID=os.environ["DISCORD_APPLICATION_ID"],
    DISCORD_PUBLIC_KEY=os.environ["DISCORD_PUBLIC_KEY"],
    DISCORD_CLIENT_SECRET="",  # only for registering commands, which the bench does not do
)
discord = DiscordInteractions(app)


@discord.command()  # type: ignore[untyped-decorator]
def ping(ctx: Context) -> str:
    "Respond with a friendly 'pong'!"
    return "Pong!"


discord.set_route("/")
