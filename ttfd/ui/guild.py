"""A Discord server's roles and members as the checks Discord itself makes need them, and those checks for
handing out a role: who may give a role (the invoker) and who will (the bot).

Discord lets a member give a role only with Manage Roles and only below their own highest role (the owner
excepted), and lets the bot do it only below the bot's highest role. TTFD hands roles out later, in jobs (a
shop purchase, a verification, a rank-up), so both are checked when such a role is configured and the bot's
side again when it is given: a role moved above the bot or given a dangerous permission since is refused.

Only jobs use this module (it calls Discord over REST); answers are cached for CACHE_S in Postgres."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ttfd.core import apicache
from ttfd.core.db import Conn
from ttfd.core.errors import Forbidden, NotFound
from ttfd.core.i18n import _
from ttfd.ui.commands import ADMINISTRATOR, RoleRef
from ttfd.ui.permissions import MANAGE_ROLES, check_grantable

CACHE_S = 30


@dataclass(frozen=True)
class Role:
    id: int
    name: str
    position: int
    permissions: int
    managed: bool

    @property
    def ref(self) -> RoleRef:
        return RoleRef(self.id, self.name, self.permissions, self.managed)


@dataclass(frozen=True)
class Guild:
    id: int
    owner_id: int
    roles: dict[int, Role]

    def top(self, role_ids: tuple[int, ...] | list[int]) -> int:
        """The position of the highest of these roles (0: only @everyone)."""
        return max((self.roles[r].position for r in role_ids if r in self.roles), default=0)

    def permissions(self, role_ids: tuple[int, ...] | list[int]) -> int:
        """A member's server-wide permissions: @everyone's and every role's, combined."""
        bits = self.roles[self.id].permissions if self.id in self.roles else 0
        for r in role_ids:
            if r in self.roles:
                bits |= self.roles[r].permissions
        return bits


def bot_user_id() -> int:
    """TTFD's own member id in servers: a bot application's user shares the application's id."""
    from ttfd.core.settings import get_settings

    return int(get_settings().require("discord_application_id"))


def _cached(conn: Conn, key: str, path: str, fresh: bool = False) -> Any:
    from ttfd.clients import discord_rest

    found = None if fresh else apicache.get(conn, key)
    if found is None:
        found = discord_rest.shared().request("GET", path).json()
        apicache.put(conn, key, found, CACHE_S)
    return found


def guild(conn: Conn, guild_id: int, fresh: bool = False) -> dict[str, Any]:
    """GET /guilds/{id} as Discord answered it (cached; `fresh`: asked now, and cached again)."""
    return dict(_cached(conn, f"guild:{guild_id}", f"/guilds/{guild_id}", fresh))


def member(conn: Conn, guild_id: int, user_id: int, fresh: bool = False) -> dict[str, Any] | None:
    """GET /guilds/{id}/members/{user} as Discord answered it (cached); None when they are not in the server."""
    from ttfd.clients.http import NotFoundError

    try:
        path = f"/guilds/{guild_id}/members/{user_id}"
        return dict(_cached(conn, f"member:{guild_id}:{user_id}", path, fresh))
    except NotFoundError:
        return None


def forget_members(conn: Conn, guild_id: int) -> None:
    """After acting on members: their roles or status changed."""
    apicache.drop(conn, f"member:{guild_id}:")


def load(conn: Conn, guild_id: int, fresh: bool = False) -> Guild:
    """The server's owner and roles; a server that is gone or has removed TTFD is a refusal."""
    from ttfd.clients.http import Forbidden as Refused
    from ttfd.clients.http import NotFoundError

    try:
        raw = guild(conn, guild_id, fresh)
    except (NotFoundError, Refused):
        raise Forbidden(_("I am not in that server any more.")) from None
    roles = {
        int(r["id"]): Role(
            int(r["id"]), str(r.get("name", "")), int(r["position"]), int(r["permissions"]), bool(r.get("managed"))
        )
        for r in raw.get("roles", [])
    }
    return Guild(guild_id, int(raw["owner_id"]), roles)


def member_roles(conn: Conn, guild_id: int, user_id: int, fresh: bool = False) -> list[int] | None:
    found = member(conn, guild_id, user_id, fresh)
    return None if found is None else [int(r) for r in found.get("roles", [])]


def check_assignable(
    conn: Conn, guild_id: int, role_id: int, bot_id: int, what: str, invoker_id: int | None, *, fresh: bool = False
) -> Role:
    """The role as Discord has it now, if it may be handed out here: not @everyone, not managed, no dangerous
    permission (`what` says why: "Shop roles are bought by anyone with coins"), below the bot's highest role with
    the bot holding Manage Roles, and — when `invoker_id` configures it — below the invoker's highest role
    unless they own the server. Otherwise a refusal that says what to change. `fresh` (when a role is about to
    be given): the server's roles and the bot's asked now, not from the 30-second cache — a role given
    Administrator a moment ago must not be handed out."""
    g = load(conn, guild_id, fresh)
    role = g.roles.get(role_id)
    if role is None:
        raise NotFound(_("That role does not exist in this server any more."))
    check_grantable(role.ref, guild_id, what)
    if invoker_id is not None and invoker_id != g.owner_id:
        mine = member_roles(conn, guild_id, invoker_id) or []
        if not g.permissions(mine) & (ADMINISTRATOR | MANAGE_ROLES):
            raise Forbidden(_("You need the Manage Roles permission to hand out roles."))
        if role.position >= g.top(mine):
            raise Forbidden(
                _(
                    "@{role} is the same as or above your highest role, so Discord would not let you give it "
                    "either. Pick a role below yours.",
                    role=role.name,
                )
            )
    bot = member_roles(conn, guild_id, bot_id, fresh)
    if bot is None:
        raise Forbidden(_("I am not in this server any more."))
    if bot_id != g.owner_id and not g.permissions(bot) & (ADMINISTRATOR | MANAGE_ROLES):
        raise Forbidden(_("I need the Manage Roles permission to give roles: add it to my role."))
    if bot_id != g.owner_id and role.position >= g.top(bot):
        raise Forbidden(
            _("@{role} is the same as or above my highest role: move my role above it first.", role=role.name)
        )
    return role
