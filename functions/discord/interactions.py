"""`discord_interactions`: verify the signature, answer a PING, hand every other interaction to
functions.discord.events (parsing and the one dispatch path).

A PING (Discord validating the endpoint, often on a cold instance) loads only the signature check and the JSON
reader: the database, the registry and every feature are imported on the first interaction that needs them
(tests/test_cold_imports.py pins both sets).
"""

from __future__ import annotations

from discord_interactions import InteractionResponseType, InteractionType
from flask import Request, Response

from functions.discord.verify import is_valid
from functions.http import json_response, problem
from ttfd.core import inputs
from ttfd.core.settings import get_settings

PING = InteractionType.PING


def discord_interactions(request: Request) -> Response:
    """HTTP entrypoint Discord calls for every slash command, button and modal."""
    if request.method != "POST":
        return problem(405, "Discord interactions are POSTed")
    body = request.get_data(cache=False)
    public_key = get_settings().require("discord_public_key")
    if not is_valid(
        public_key, request.headers.get("X-Signature-Ed25519"), request.headers.get("X-Signature-Timestamp"), body
    ):
        return problem(401, "invalid request signature")
    try:
        payload = inputs.load_json(body)
    except inputs.InputError as exc:
        return problem(400, f"malformed interaction: {exc}")
    if isinstance(payload, dict) and payload.get("type") == PING:
        return json_response({"type": InteractionResponseType.PONG})
    from functions.discord import events  # past a PING only: the database, the registry, the features

    return events.answer(payload)
