"""A server's policy as Discord AutoMod rules (pure: no I/O), one rule per slot:

| slot     | trigger                | from the policy                                                            |
|----------|------------------------|----------------------------------------------------------------------------|
| words    | 1 KEYWORD              | keyword_filter = bad words (Discord's own * wildcards)                      |
| invites  | 1 KEYWORD              | regex_patterns = Discord invite links                                       |
| links    | 1 KEYWORD              | deny: regex_patterns over the domains; allow: any link, allow_list = domains |
| mentions | 5 MENTION_SPAM         | mention_total_limit                                                         |

Each blocks the message (with a short custom message, said in the server's language: the sync is given it)
and, with an alert channel, posts an alert there; the exempt roles and channels apply to every rule. Caps,
repeats and floods have no native rule (Discord's SPAM trigger is its own classifier with no settings), so
they are enforced on Telegram only.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ttfd.core.errors import BadInput
from ttfd.core.i18n import Msg, _
from ttfd.features.automod.service import (
    DISCORD_INVITE,
    MAX_ALLOW_LIST,
    MAX_KEYWORD_LEN,
    MAX_REGEX,
    MAX_REGEX_LEN,
    Policy,
)

KEYWORD, SPAM, KEYWORD_PRESET, MENTION_SPAM = 1, 3, 4, 5
MAX_RULES = {KEYWORD: 6, SPAM: 1, KEYWORD_PRESET: 1, MENTION_SPAM: 1}  # per server, per trigger type
BLOCK, ALERT = 1, 2
SLOTS = ("words", "invites", "links", "mentions")
# The rules' names on Discord: how a sync finds its own rules again, so they never change with a language.
NAMES = {
    "words": "TTFD: bad words",
    "invites": "TTFD: invite links",
    "links": "TTFD: links",
    "mentions": "TTFD: mention spam",
}
# What Discord tells a member whose message a rule blocked (its custom message: at most 150 characters).
MESSAGES: dict[str, Msg] = {
    "words": _("That word isn't allowed here."),
    "invites": _("Invite links aren't allowed here."),
    "links": _("Links to that site aren't allowed here."),
    "mentions": _("Too many mentions in one message."),
}
# The rules as a reply about a sync names them.
SLOT_NAMES: dict[str, Msg] = {
    "words": _("bad words"),
    "invites": _("invite links"),
    "links": _("links"),
    "mentions": _("mention spam"),
}
# Any link's scheme and host (what an allow list is matched against).
ANY_LINK = r"(?i)https?://(?:[^\s/@]*@)?[a-z0-9.-]+"  # the host, after any user-info


def _deny_patterns(domains: tuple[str, ...]) -> list[str]:
    """Denied domains (and their subdomains) packed into as few regexes as fit 260 characters each."""
    head, tail = r"(?i)(?:^|[^a-z0-9.-])(?:[a-z0-9-]+\.)*(?:", r")(?:[^a-z0-9-]|$)"
    patterns: list[str] = []
    group: list[str] = []
    for d in domains:
        escaped = re.escape(d)
        if group and len(head + "|".join([*group, escaped]) + tail) > MAX_REGEX_LEN:
            patterns.append(head + "|".join(group) + tail)
            group = []
        group.append(escaped)
    if group:
        patterns.append(head + "|".join(group) + tail)
    if len(patterns) > MAX_REGEX:
        raise BadInput(
            _(
                "Those denied domains need {needed} patterns; a Discord AutoMod rule takes {max} of {length} "
                "characters. Deny fewer domains.",
                needed=len(patterns),
                max=MAX_REGEX,
                length=MAX_REGEX_LEN,
            )
        )
    return patterns


def desired(p: Policy, locale: str = "en") -> dict[str, dict[str, Any]]:
    """The rule body (as POSTed) for each slot the policy needs, its messages said in `locale` (the server's
    language); BadInput if Discord could not hold it."""
    out: dict[str, dict[str, Any]] = {}

    def rule(slot: str, trigger: int, metadata: dict[str, Any]) -> None:
        said = MESSAGES[slot].in_(locale)
        actions: list[dict[str, Any]] = [{"type": BLOCK, "metadata": {"custom_message": said}}]
        if p.alert_channel:
            actions.append({"type": ALERT, "metadata": {"channel_id": str(p.alert_channel)}})
        out[slot] = {
            "name": NAMES[slot],
            "event_type": 1,
            "trigger_type": trigger,
            "trigger_metadata": metadata,
            "actions": actions,
            "enabled": p.enabled,
            "exempt_roles": [str(r) for r in p.exempt_roles],
            "exempt_channels": [str(c) for c in p.exempt_channels],
        }

    def keywords(words: list[str], regex: list[str], allow: list[str]) -> dict[str, Any]:
        return {"keyword_filter": words, "regex_patterns": regex, "allow_list": allow}

    if p.bad_words:
        rule("words", KEYWORD, keywords(list(p.bad_words), [], []))
    if p.block_invites:
        rule("invites", KEYWORD, keywords([], [DISCORD_INVITE], []))
    if p.link_mode == "deny" and p.links:
        rule("links", KEYWORD, keywords([], _deny_patterns(p.links), []))
    elif p.link_mode == "allow" and p.links:
        if len(p.links) > MAX_ALLOW_LIST:
            raise BadInput(
                _(
                    "Discord's allow list takes at most {max} entries; that was {given}.",
                    max=MAX_ALLOW_LIST,
                    given=len(p.links),
                )
            )
        # The allow list is matched against what the pattern matched (scheme and host): *example.com covers
        # example.com and its subdomains.
        allow = [f"*{d}" for d in p.links if len(d) < MAX_KEYWORD_LEN]
        rule("links", KEYWORD, keywords([], [ANY_LINK], allow))
    if p.mention_limit:
        rule(
            "mentions", MENTION_SPAM, {"mention_total_limit": p.mention_limit, "mention_raid_protection_enabled": False}
        )
    return out


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _same(want: Any, have: Any) -> bool:
    """Whether Discord's copy says what we want: every key we set equal (lists of ids and keywords in any
    order); keys Discord adds itself (id, creator_id, unused metadata) are ignored."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_same(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return False
        if all(isinstance(x, str) for x in want) and all(isinstance(x, str) for x in have):
            return sorted(want) == sorted(have)
        return all(_same(w, h) for w, h in zip(want, have, strict=True))
    if have is None and want in ([], None):
        return True
    return bool(want == have)


def matches(remote: dict[str, Any], body: dict[str, Any]) -> bool:
    return _same(body, remote)
