"""Automod policies, the Discord rules a sync created, and Telegram's flood/repeat counters: the one place
their SQL lives (sql/0012), plus the checks a Telegram group message goes through.

A policy is validated whole before it is stored, against Discord's AutoMod limits too (a server's policy
that Discord could not hold is refused with the limit it breaks), so a stored policy always syncs."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from ttfd.core.db import Conn
from ttfd.core.errors import BadInput
from ttfd.core.i18n import Msg, _
from ttfd.core.inputs import text_problem

Scope = Literal["discord", "telegram"]
LinkMode = Literal["off", "allow", "deny"]
SYNC_JOB, DELETE_JOB = "automod.sync", "automod.delete"

# Discord's AutoMod limits (docs: Auto Moderation → trigger types, trigger metadata, rule object).
MAX_KEYWORDS, MAX_KEYWORD_LEN = 1000, 60
MAX_REGEX, MAX_REGEX_LEN = 10, 260
MAX_ALLOW_LIST = 100
MAX_EXEMPT_ROLES, MAX_EXEMPT_CHANNELS = 20, 50
MAX_MENTIONS = 50
MAX_EXEMPT_USERS = 200
MAX_LINKS = 100

# Invite links: Discord's own (the native rule) and, on Telegram, Telegram's private-group invites as well.
DISCORD_INVITE = r"(?i)(?:discord(?:app)?\.com/invite|discord\.gg)/[a-z0-9-]+"
TELEGRAM_INVITE = r"(?i)(?:t|telegram)\.me/(?:\+|joinchat/)[\w-]+"
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_WORD_CHARS = re.compile(r"[^\s,*]+(?: [^\s,*]+)*")


@dataclass(frozen=True)
class Policy:
    scope: Scope
    scope_id: int
    enabled: bool = True
    bad_words: tuple[str, ...] = ()
    block_invites: bool = False
    link_mode: LinkMode = "off"
    links: tuple[str, ...] = ()
    mention_limit: int | None = None
    caps_percent: int | None = None
    caps_min_len: int = 10
    repeat_limit: int | None = None
    repeat_window_s: int = 60
    flood_limit: int | None = None
    flood_window_s: int = 10
    exempt_roles: tuple[int, ...] = ()
    exempt_channels: tuple[int, ...] = ()
    exempt_users: tuple[int, ...] = ()
    alert_channel: int | None = None
    synced_at: datetime | None = None
    sync_error: str | None = None

    @property
    def active(self) -> bool:
        """Whether anything is checked at all."""
        return self.enabled and bool(
            self.bad_words
            or self.block_invites
            or self.link_mode != "off"
            or self.mention_limit
            or self.caps_percent
            or self.repeat_limit
            or self.flood_limit
        )


_LISTS = {"bad_words", "links", "exempt_roles", "exempt_channels", "exempt_users"}
_STORED = [f.name for f in fields(Policy) if f.name not in ("scope", "scope_id", "synced_at", "sync_error")]


def _policy(row: dict[str, Any]) -> Policy:
    values = {f.name: row[f.name] for f in fields(Policy)}
    for name in _LISTS:
        values[name] = tuple(values[name] or ())
    return Policy(**values)


_GET = "SELECT * FROM automod_policies WHERE scope = %(scope)s AND scope_id = %(scope_id)s"


def get(conn: Conn, scope: Scope, scope_id: int, *, lock: bool = False) -> Policy | None:
    row = conn.execute(_GET + (" FOR UPDATE" if lock else ""), {"scope": scope, "scope_id": scope_id}).fetchone()
    return _policy(row) if row else None


_SAVE = """
INSERT INTO automod_policies AS p (scope, scope_id, {cols}, updated_by, updated_at)
VALUES (%(scope)s, %(scope_id)s, {vals}, %(updated_by)s, now())
ON CONFLICT (scope, scope_id) DO UPDATE SET {sets}, updated_by = EXCLUDED.updated_by, updated_at = now()
RETURNING *
""".format(
    cols=", ".join(_STORED),
    vals=", ".join(f"%({c})s" for c in _STORED),
    sets=", ".join(f"{c} = EXCLUDED.{c}" for c in _STORED),
)


def update(
    conn: Conn,
    scope: Scope,
    scope_id: int,
    changes: dict[str, Any],
    by: int | None,
    also: Callable[[Policy], object] | None = None,
) -> Policy:
    """Apply checked `changes` (see `parse`) to the stored policy (or the default one), check the result
    whole (`also`: a platform's own limits, e.g. building its Discord rules) and store it; a refusal stores
    nothing."""
    current = get(conn, scope, scope_id, lock=True) or Policy(scope, scope_id)
    policy = replace(current, **changes)
    check(policy)
    if also is not None:
        also(policy)
    params: dict[str, Any] = {c: getattr(policy, c) for c in _STORED}
    params.update({k: list(params[k]) for k in _LISTS})
    row = conn.execute(_SAVE, {**params, "scope": scope, "scope_id": scope_id, "updated_by": by}).fetchone()
    assert row is not None
    return _policy(row)


# --- what people type: comma-separated lists, checked one by one ------------------------------------------

NONE_WORDS = {"none", "off", "-", "clear"}


def _items(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.lower() in NONE_WORDS:
        return []
    return [p.strip() for p in raw.split(",") if p.strip()]


def bad_word(raw: str) -> str:
    """A keyword as Discord's AutoMod takes it: 1-60 characters, `*` only at its start or end."""
    word = " ".join(raw.lower().split())
    core = word.strip("*")
    if text_problem(word):
        raise BadInput(_("The bad word {word} has characters that cannot be stored or shown.", word=repr(word[:60])))
    if len(word) > MAX_KEYWORD_LEN:
        raise BadInput(
            _(
                "A bad word is at most {max} characters (Discord's limit): {word}… is longer.",
                max=MAX_KEYWORD_LEN,
                word=repr(word[:60]),
            )
        )
    if not core or not _WORD_CHARS.fullmatch(core) or word.startswith("**") or word.endswith("**"):
        raise BadInput(
            _("A bad word may have * only at its start or end (*cat*, cat*, *cat), not {word}.", word=repr(word[:60]))
        )
    return word


def domain(raw: str) -> str:
    """A domain from what was typed (a scheme, www. and a path are dropped)."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", raw.strip().lower()).split("/", 1)[0].split(":", 1)[0]
    host = host.removeprefix("www.").removeprefix("*.")
    if not _DOMAIN.fullmatch(host) or len(host) > MAX_KEYWORD_LEN - 1:
        raise BadInput(_("{given} is not a domain (like example.com).", given=repr(raw[:60])))
    return host


def snowflake(raw: str) -> int:
    digits = re.sub(r"^<[@#]&?|>$", "", raw.strip())
    if not digits.isdigit() or not 0 < int(digits) < 2**63:
        raise BadInput(_("{given} is not an id (or a mention).", given=repr(raw[:40])))
    return int(digits)


_PLAIN = ("enabled", "block_invites", "link_mode", "caps_min_len", "repeat_window_s", "flood_window_s", "alert_channel")


def parse(values: dict[str, Any]) -> dict[str, Any]:
    """Policy changes from command options: lists as comma-separated text ("none" clears), 0 turns a limit
    off; each item checked, with a sentence naming what does not fit."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "bad_words":
            out[name] = tuple(dict.fromkeys(bad_word(w) for w in _items(value)))
        elif name == "links":
            out[name] = tuple(dict.fromkeys(domain(d) for d in _items(value)))
        elif name in ("exempt_roles", "exempt_channels", "exempt_users"):
            out[name] = tuple(dict.fromkeys(snowflake(i) for i in _items(value)))
        elif name in ("mention_limit", "caps_percent", "repeat_limit", "flood_limit"):
            out[name] = value or None
        elif name in _PLAIN:
            out[name] = value
        else:
            raise BadInput(_("{setting} is not an automod setting.", setting=name))
    return out


def check(p: Policy) -> None:
    """Everything that must hold of a whole policy (Discord's per-rule limits included)."""
    if len(p.bad_words) > MAX_KEYWORDS:
        raise BadInput(
            _(
                "At most {max} bad words fit in one Discord AutoMod rule; that was {given}.",
                max=MAX_KEYWORDS,
                given=len(p.bad_words),
            )
        )
    if len(p.links) > MAX_LINKS:
        raise BadInput(
            _("At most {max} domains fit in the link list; that was {given}.", max=MAX_LINKS, given=len(p.links))
        )
    if p.link_mode != "off" and not p.links:
        raise BadInput(_("Link mode {mode} needs domains: set links (example.com, …) too.", mode=p.link_mode))
    if p.mention_limit is not None and not 1 <= p.mention_limit <= MAX_MENTIONS:
        raise BadInput(_("The mention limit is 1 to {max} (Discord's limit).", max=MAX_MENTIONS))
    if p.caps_percent is not None and not 50 <= p.caps_percent <= 100:
        raise BadInput(_("The capitals limit is a percentage from 50 to 100 (0 turns it off)."))
    if len(p.exempt_roles) > MAX_EXEMPT_ROLES:
        raise BadInput(
            _(
                "Discord exempts at most {max} roles from a rule; that was {given}.",
                max=MAX_EXEMPT_ROLES,
                given=len(p.exempt_roles),
            )
        )
    if len(p.exempt_channels) > MAX_EXEMPT_CHANNELS:
        raise BadInput(
            _(
                "Discord exempts at most {max} channels from a rule; that was {given}.",
                max=MAX_EXEMPT_CHANNELS,
                given=len(p.exempt_channels),
            )
        )
    if len(p.exempt_users) > MAX_EXEMPT_USERS:
        raise BadInput(
            _("At most {max} exempt people; that was {given}.", max=MAX_EXEMPT_USERS, given=len(p.exempt_users))
        )


# --- the Discord rules a sync created ------------------------------------------------------------------


def known_rules(conn: Conn, guild_id: int) -> dict[str, tuple[int, str]]:
    rows = conn.execute(
        "SELECT slot, rule_id, fingerprint FROM automod_rules WHERE guild_id = %(g)s", {"g": guild_id}
    ).fetchall()
    return {r["slot"]: (int(r["rule_id"]), r["fingerprint"]) for r in rows}


_REMEMBER = """
INSERT INTO automod_rules (guild_id, slot, rule_id, fingerprint) VALUES (%(g)s, %(slot)s, %(rule)s, %(fp)s)
ON CONFLICT (guild_id, slot) DO UPDATE SET rule_id = EXCLUDED.rule_id, fingerprint = EXCLUDED.fingerprint,
    synced_at = now()
WHERE (automod_rules.rule_id, automod_rules.fingerprint) IS DISTINCT FROM (EXCLUDED.rule_id, EXCLUDED.fingerprint)
"""


def remember_rule(conn: Conn, guild_id: int, slot: str, rule_id: int, fingerprint: str) -> None:
    conn.execute(_REMEMBER, {"g": guild_id, "slot": slot, "rule": rule_id, "fp": fingerprint})


def forget_rule(conn: Conn, guild_id: int, slot: str) -> None:
    conn.execute("DELETE FROM automod_rules WHERE guild_id = %(g)s AND slot = %(slot)s", {"g": guild_id, "slot": slot})


def mark_synced(conn: Conn, guild_id: int, error: str | None) -> None:
    """A sync's outcome: matched (synced_at now, no error) or refused (the error; synced_at kept)."""
    conn.execute(
        """UPDATE automod_policies SET sync_error = %(error)s,
               synced_at = CASE WHEN %(error)s::text IS NULL THEN now() ELSE synced_at END
           WHERE scope = 'discord' AND scope_id = %(g)s""",
        {"g": guild_id, "error": error and error[:500]},
    )


# --- Telegram: what is wrong with a message ----------------------------------------------------------
#
# Matching runs on a folded copy of the text, made the same way for the message, its links and the policy's
# words, so that what Telegram shows as a blocked word or link is one: characters it does not draw (zero-width
# and other format characters, the soft hyphen, Hangul fillers, stray combining marks, controls) are dropped,
# compatibility forms (fullwidth, mathematical letters) become plain ones, case is folded, and Cyrillic and
# Greek letters that look Latin become Latin. A Russian word then still matches Russian text (both are folded
# alike) and a Latin/Cyrillic mix of it matches too.

# Lowercase look-alikes only: case is folded first, and a letter that looks Latin only as a capital (В, Н, Т)
# would make common Russian words ("вот") read as Latin ones ("bot").
_LOOKALIKES = {
    **dict(zip("аеорсухіјѕԁһӏёԛԝү", "aeopcyxijsdhleqwy", strict=True)),  # Cyrillic
    **dict(zip("οαειɩκνρτυχ", "oaeiikvptux", strict=True)),  # Greek (ɩ: Latin iota)
    **dict(zip("ıɑɡ", "iag", strict=True)),  # Latin letters that pass for plain ones
    "\u3002": ".",  # ideographic full stop (the halfwidth one becomes this under NFKC)
    "\u2044": "/",  # fraction slash
    "\u2215": "/",  # division slash
    "\u2800": " ",  # braille blank: drawn as a space
}
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")  # Hangul fillers: letters that draw nothing
_TABLE_MAX = 1 << 16  # code points remembered per table (an attacker cannot grow it past this)


class _Table(dict[int, str | None]):
    """A `str.translate` table filled on first sight of each code point (there are over a million): after
    that, translating is a C loop."""

    def __init__(self, rule: Callable[[str], str | None]) -> None:
        super().__init__()
        self.rule = rule

    def __missing__(self, code: int) -> str | None:
        out = self.rule(chr(code))
        if len(self) < _TABLE_MAX:
            self[code] = out
        return out


def _unseen(ch: str) -> str | None:
    """Before NFKC: drop what is not drawn, so the letters around it compose as they would without it."""
    kind = unicodedata.category(ch)
    if kind == "Cf" or ch in _FILLERS or (kind == "Cc" and not ch.isspace()):
        return None
    return ch


def _folded(ch: str) -> str | None:
    """After NFKC and casefold: marks left on their own dropped (fillers again: NFKC makes U+1160 of some),
    look-alikes made Latin."""
    if unicodedata.category(ch) in ("Mn", "Me", "Cf") or ch in _FILLERS:
        return None
    return _LOOKALIKES.get(ch, ch)


_UNSEEN, _FOLDED = _Table(_unseen), _Table(_folded)


def normalize(text: str) -> str:
    """The text as matching sees it (see above); the same for a message, a link and a bad word. Decomposed
    first, so an accent drops off its letter (bád, b\u0301ad and bad read alike) as any stray mark does."""
    if text.isascii():  # the common case: only controls to drop and case to fold
        return text.translate(_UNSEEN).lower()
    text = unicodedata.normalize("NFKD", text.translate(_UNSEEN))
    return unicodedata.normalize("NFKC", text.casefold().translate(_FOLDED))


def _real(text: str) -> str:
    """The text as a browser reads its links: invisible characters dropped, NFKC (fullwidth letters, the
    ideographic full stop), case folded — but no look-alike made Latin: exаmple.com (a Cyrillic а) is another
    site than example.com."""
    return unicodedata.normalize("NFKC", text.translate(_UNSEEN)).casefold()


@dataclass(frozen=True)
class Offence:
    code: str  # bad_word, invite, link, mentions, caps, repeat, flood
    says: Msg  # the reason as the sender reads it (said in their language)


def _trie(cores: list[str]) -> str:
    """One regex for many words, their shared beginnings written once: the engine then tries a few branches
    at each position of a message, not every word (a policy may hold a thousand)."""
    root: dict[str, Any] = {}
    for core in cores:
        node = root
        for ch in core:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here

    def alternatives(node: dict[str, Any]) -> str:
        branches = [(r"\s+" if ch == " " else re.escape(ch)) + alternatives(nxt) for ch, nxt in node.items() if ch]
        if not branches:
            return ""
        either = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{either})?" if "" in node else either

    return alternatives(root)


@lru_cache(maxsize=256)
def _words_re(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """A policy's bad words, folded as messages are and compiled once (policies are few and rarely change),
    with Discord's keyword matching: `cat` a whole word, `cat*` a word start, `*cat` a word end, `*cat*`
    inside one. A word that folds to nothing (only invisible characters) matches nothing."""
    kinds: dict[tuple[bool, bool], list[str]] = {}
    for word in words:
        if core := " ".join(normalize(word.strip("*")).split()):
            kinds.setdefault((word.startswith("*"), word.endswith("*")), []).append(core)
    patterns = [
        ("" if inside_start else r"(?<!\w)") + _trie(cores) + ("" if inside_end else r"(?!\w)")
        for (inside_start, inside_end), cores in kinds.items()
    ]
    return re.compile("|".join(patterns)) if patterns else None


# A link's host comes after any user-info ("https://example.com@evil.com" goes to evil.com), and is anything a
# browser takes for one: a name in any script, an IP address, [an IPv6 one]. Texts here are folded (lowercase).
_URL = re.compile(r"(?:\b(?:https?|ftp|wss?):/+|\bwww\.)(?:[^\s/@?#]*@)?(\[[0-9a-f:.]+\]|[^\s/?#:@\\]+)")
# Telegram's own links to a chat or an invite (tg://resolve?domain=…, tg://join?invite=…) go where t.me goes;
# tg://user?id=… (a mention) goes nowhere.
_TG_LINK = re.compile(r"tg:/+(?:resolve|join|addstickers|addemoji|privatepost)\b")
_HOST = re.compile(r"(?<![\w.@-])((?:[\w-]+\.)+[\w-]{2,63})(?![\w-])")
_INVITES = re.compile(f"{DISCORD_INVITE.removeprefix('(?i)')}|{TELEGRAM_INVITE.removeprefix('(?i)')}", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z][A-Za-z0-9_]{3,31})")
# Top-level domains that make a bare "word.tld" a link in allow mode: the common ones and those spam uses,
# never file extensions or words people put after a dot ("file.txt", "readme.md", "v1.2", "do.it").
_TLD_NAMES = """
    com net org info biz pro mobi io gg me ru su xyz top online site club shop store live link click pw tk ml ga cf
    gq cc co tv to ws app dev ai cloud space website tech fun icu buzz vip win bid loan blog bet casino lol cyou sbs
    cfd bond quest monster cn ua by kz uz kg tj am ge az lv lt ee uk de fr eu us ca au nl es pl cz se fi ch tr ir
"""
TLDS = frozenset(_TLD_NAMES.split()) | {"рф", "рус", "москва", "онлайн", "сайт", "орг", "ком", "бел", "укр", "қаз"}

# Links are read as a browser goes: percent-escapes decoded, backslashes taken for slashes, dot segments
# ("discord.com/../invite/x") resolved, a port and a host's trailing dot dropped, slashes collapsed.
_PERCENT = re.compile(r"%(2[1-9a-f]|[3-6][0-9a-f]|7[0-9a-e])")  # printable ASCII only
_DOT_SEGMENT = re.compile(r"/\.{1,2}(?=/|$)")
_PORT_OR_DOT = re.compile(r"\.?(?::[0-9]{1,5})?(?=/)")
_SLASHES = re.compile(r"/{2,}")
_SCHEME = re.compile(r"(?:https?|ftp|wss?):/")


def _as_visited(folded: str) -> str:
    """Where the links in a (folded) text go, written plainly, for the invite patterns to see."""
    if "%" in folded:
        folded = _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), folded)
    folded = _DOT_SEGMENT.sub("", folded.replace("\\", "/"))
    return _SLASHES.sub("/", _PORT_OR_DOT.sub("", folded))


def _host(raw: str) -> str:
    """A host as DNS knows it: no trailing dot, IDNA (punycode) for names in other scripts — пример.рф is
    xn--e1afmkfd.xn--p1ai, exаmple.com (a Cyrillic а) is not example.com."""
    host = raw.strip("[]").rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host  # not a name DNS could hold: covered by no domain


def _link_host(url: str) -> str | None:
    """The host a link Telegram marked (or hid behind words) goes to; None for one to no host (tg://user?id=…)."""
    if url.startswith("tg:"):
        return "t.me" if _TG_LINK.match(url) else None
    found = _URL.match(url if _SCHEME.match(url) or url.startswith("www.") else "http://" + url)
    return _host(found.group(1)) if found else None


def _covered(host: str, domains: tuple[str, ...]) -> bool:
    host = host.lower().removeprefix("www.")
    return any(host == d or host.endswith("." + d) for d in domains)


def _hosts(text: str, *, any_bare: bool = False) -> list[str]:
    """The hosts a text links to: every link with a scheme (or www.), and hosts written bare that read as
    links — a known top-level domain (or an IDNA one), not an email address; `any_bare`: every word.word (a
    deny list names its domains, so "spam.foo" there is a link whatever its TLD)."""
    hosts = [_host(m.group(1)) for m in _URL.finditer(text)]
    for m in _HOST.finditer(text):
        tld = m.group(1).rsplit(".", 1)[1]
        if any_bare or tld in TLDS or tld.startswith("xn--"):
            hosts.append(_host(m.group(1)))
    return hosts


def content_offence(p: Policy, text: str, urls: tuple[str, ...] = ()) -> Offence | None:
    """The first rule a message breaks (counters aside), in the order people expect to hear. `urls` are the
    message's links as Telegram marked them: a link hidden behind other words (text_link) is checked too."""
    folded = normalize(text)
    links = [normalize(u) for u in urls]
    if p.bad_words and (words := _words_re(p.bad_words)) is not None and words.search(folded):
        return Offence("bad_word", _("that word isn't allowed here"))
    if p.block_invites and any(_INVITES.search(_as_visited(t)) for t in (folded, *links)):
        return Offence("invite", _("invite links aren't allowed here"))
    if p.link_mode != "off":
        # Where links really go (an allowed name spelled with a look-alike letter is another site) …
        deny = p.link_mode == "deny"
        real = [
            *_hosts(_as_visited(_real(text)), any_bare=deny),
            *(h for u in urls if (h := _link_host(_as_visited(_real(u))))),
        ]
        if deny:
            # … and, for a denied site, also what they pass for (a look-alike of it is denied as well).
            disguised = [
                *_hosts(_as_visited(folded), any_bare=True),
                *(h for u in links if (h := _link_host(_as_visited(u)))),
            ]
            if any(_covered(h, p.links) for h in (*real, *disguised)):
                return Offence("link", _("links to that site aren't allowed here"))
        elif any(not _covered(h, p.links) for h in real):
            allowed = ", ".join(p.links[:5]) + (", …" if len(p.links) > 5 else "")
            return Offence("link", _("only links to {domains} are allowed here", domains=allowed))
    if p.mention_limit is not None:
        mentioned = {m.group(1).lower() for m in _MENTION.finditer(text)}
        if len(mentioned) > p.mention_limit:
            return Offence("mentions", _("too many mentions (at most {n} per message)", n=p.mention_limit))
    if p.caps_percent is not None:  # on the text as written: folding loses case
        letters = [c for c in text if c.isalpha()]
        upper = sum(1 for c in letters if c.isupper())
        if len(letters) >= p.caps_min_len and upper * 100 >= p.caps_percent * len(letters):
            return Offence("caps", _("please don't shout (too many capitals)"))
    return None


_FLOOD = """
INSERT INTO automod_counters AS c (chat_id, user_id, kind, started_at, last_at, count)
VALUES (%(chat)s, %(user)s, 'flood', %(now)s, %(now)s, 1)
ON CONFLICT (chat_id, user_id, kind) DO UPDATE SET
    count = CASE WHEN c.started_at > %(now)s - make_interval(secs => %(window)s) THEN c.count + 1 ELSE 1 END,
    started_at = CASE WHEN c.started_at > %(now)s - make_interval(secs => %(window)s) THEN c.started_at
                      ELSE %(now)s END,
    last_at = greatest(c.last_at, %(now)s)
RETURNING count
"""
# The same text again within the window of the previous one continues the run; anything else starts one.
_REPEAT = """
INSERT INTO automod_counters AS c (chat_id, user_id, kind, started_at, last_at, count, last_hash)
VALUES (%(chat)s, %(user)s, 'repeat', %(now)s, %(now)s, 1, %(hash)s)
ON CONFLICT (chat_id, user_id, kind) DO UPDATE SET
    count = CASE WHEN c.last_hash = %(hash)s AND c.last_at > %(now)s - make_interval(secs => %(window)s)
                 THEN c.count + 1 ELSE 1 END,
    started_at = CASE WHEN c.last_hash = %(hash)s AND c.last_at > %(now)s - make_interval(secs => %(window)s)
                      THEN c.started_at ELSE %(now)s END,
    last_at = greatest(c.last_at, %(now)s),
    last_hash = %(hash)s
RETURNING count
"""


def _text_hash(text: str) -> bytes:
    """The same message for the repeat check: folded (an invisible character or a look-alike makes no new
    message), whitespace runs as one space."""
    return hashlib.sha256(" ".join(normalize(text).split()).encode("utf-8", "surrogatepass")).digest()


def count_offence(conn: Conn, p: Policy, chat_id: int, user_id: int, text: str, now: datetime) -> Offence | None:
    """Count the message for the flood and repeat checks (each a row lock held to the end of the message's
    transaction, so concurrent messages of one person count one after another) and say if it broke one."""
    offence: Offence | None = None
    if p.repeat_limit is not None:
        params = {"chat": chat_id, "user": user_id, "now": now, "window": p.repeat_window_s, "hash": _text_hash(text)}
        row = conn.execute(_REPEAT, params).fetchone()
        if row is not None and row["count"] > p.repeat_limit:
            offence = Offence("repeat", _("the same message again and again"))
    if p.flood_limit is not None:
        params = {"chat": chat_id, "user": user_id, "now": now, "window": p.flood_window_s}
        row = conn.execute(_FLOOD, params).fetchone()
        if offence is None and row is not None and row["count"] > p.flood_limit:
            offence = Offence(
                "flood",
                _("too many messages too fast (at most {n} in {window} s)", n=p.flood_limit, window=p.flood_window_s),
            )
    return offence


def counters(conn: Conn, chat_id: int, user_id: int) -> dict[str, int]:
    rows = conn.execute(
        "SELECT kind, count FROM automod_counters WHERE chat_id = %(c)s AND user_id = %(u)s",
        {"c": chat_id, "u": user_id},
    ).fetchall()
    return {r["kind"]: int(r["count"]) for r in rows}


def purge_counters(conn: Conn) -> int:
    """Counters untouched for a day (every window is shorter)."""
    return int(conn.execute("DELETE FROM automod_counters WHERE last_at < now() - interval '1 day'").rowcount)
