"""`discord_interactions`: verify, parse, claim the interaction id, route, reply — all in one transaction."""

from __future__ import annotations

import logging

from discord_interactions import InteractionResponseType, InteractionType
from flask import Request, Response
from pydantic import ValidationError

from functions.discord.app import root
from functions.discord.models import Interaction
from functions.discord.router import Ctx, Reply, reply
from functions.discord.verify import is_valid
from functions.http import GENERIC_ERROR, bad_input_reason, json_response, problem
from ttfd import inbound
from ttfd.core import db, idempotency, inputs
from ttfd.core.errors import DomainError
from ttfd.core.settings import get_settings

log = logging.getLogger(__name__)
# Discord shows "This interaction failed" 3 s after the click: leave time to answer that we are busy.
TIMEOUT_S = 2.0
BUSY = "⏳ TTFD is very busy right now and did not do that. Nothing changed; please try again in a few seconds."


def discord_interactions(request: Request) -> Response:
    """HTTP entrypoint Discord calls for every slash command, button and modal."""
    if request.method != "POST":
        return problem(405, "Discord interactions are POSTed")
    body = request.get_data(cache=False)
    public_key = get_settings().require("discord_public_key")
    if not is_valid(
        public_key,
        request.headers.get("X-Signature-Ed25519"),
        request.headers.get("X-Signature-Timestamp"),
        body,
    ):
        return problem(401, "invalid request signature")
    try:
        interaction = Interaction.model_validate(inputs.load_json(body))
    except (inputs.InputError, ValidationError) as exc:
        return problem(400, f"malformed interaction: {bad_input_reason(exc)}")
    if interaction.type == InteractionType.PING:
        return json_response({"type": InteractionResponseType.PONG})
    if interaction.invoker is None:
        return problem(400, "malformed interaction: neither member.user nor user present")
    try:
        try:
            return json_response(db.run(lambda conn: handle(conn, interaction), timeout_s=TIMEOUT_S))
        except DomainError as exc:
            # The refused attempt rolled back whole; remember the refusal so a redelivery answers the same.
            refusal = reply(f"⚠️ {exc.message}", ephemeral=True)
            return json_response(db.run(lambda conn: remember(conn, interaction, refusal), timeout_s=TIMEOUT_S))
    except db.Unavailable as exc:
        # Discord never redelivers and waits 3 s: say so now; nothing was done, so trying again is safe.
        log.warning("interaction %s not served: %s", interaction.id, exc)
        return json_response(reply(BUSY, ephemeral=True))
    except Exception:
        log.exception("interaction %s failed (type %s)", interaction.id, interaction.type)
        return json_response(reply(GENERIC_ERROR, ephemeral=True))


def handle(conn: db.Conn, interaction: Interaction) -> Reply:
    """Claim `discord:<id>` and produce the reply; a redelivery returns the first reply unchanged."""
    key = f"discord:{interaction.id}"
    invoker = interaction.invoker
    assert invoker is not None
    start = inbound.begin(
        conn, key, "discord", invoker.id, invoker.username, invoker.global_name, guild_id=interaction.guild_id
    )
    if not start.fresh:
        stored: Reply = start.stored_response
        return stored
    assert start.user is not None
    result = _route(Ctx(conn, get_settings(), interaction, invoker, start.user))  # DomainError: caller rolls back
    idempotency.store_response(conn, key, result)
    return result


def remember(conn: db.Conn, interaction: Interaction, refusal: Reply) -> Reply:
    """Claim the interaction for a refusal; if a twin delivery got there first, answer what it answered."""
    key = f"discord:{interaction.id}"
    claim = idempotency.claim(conn, key, ttl_s=86400)
    if not claim.fresh:
        stored: Reply = claim.response
        return stored
    idempotency.store_response(conn, key, refusal)
    return refusal


def _route(ctx: Ctx) -> Reply:
    data = ctx.interaction.data
    if data is None:
        raise DomainError("That interaction had no data.")
    if ctx.interaction.type == InteractionType.APPLICATION_COMMAND and data.name:
        return root.dispatch_command(ctx, data.name)
    if ctx.interaction.type == InteractionType.MESSAGE_COMPONENT and data.custom_id:
        return root.dispatch_component(ctx, data.custom_id)
    raise DomainError("That kind of interaction is not supported yet.")
