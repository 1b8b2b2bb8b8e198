"""What went wrong, decided once for every surface: `classify(exc)` gives a `Failure` — the HTTP status, the
words a person reads, whether the same request may succeed later, and how loudly to log it. Discord,
Telegram, the site, dispatch, the job runner and the deferred reply only render it.

| exception                                          | kind      | status     | words       | retry | log              |
|----------------------------------------------------|-----------|------------|-------------|-------|------------------|
| DomainError (BadInput, Forbidden, NotFound, …)     | refused   | its status | its message | no    | DEBUG            |
| db.Unavailable (pool exhausted, unreachable, late) | transient | 503        | BUSY        | yes   | WARNING          |
| SecretUnavailable (settings unread at cold start)  | transient | 503        | BUSY        | yes   | WARNING          |
| ConfigError (a setting missing or invalid)         | transient | 503        | BUSY        | yes   | ERROR            |
| HTTPError from a client: 429, 5xx, network         | transient | 503        | BUSY        | yes   | WARNING          |
| HTTPError from a client: another 4xx               | permanent | 502        | GENERIC     | no    | ERROR            |
| PermanentJobError                                  | permanent | 500        | GENERIC     | no    | ERROR            |
| anything else: a bug                               | bug       | 500        | GENERIC     | no    | ERROR, traceback |

`retry` is "the same request may succeed in a moment": Telegram then gets a 503 (it redelivers), the site and
a scheduler a 503 with Retry-After (`retry_headers`), Discord (which never redelivers) the busy words, a job
another attempt. A ConfigError is ours to fix, not the person's: ERROR (an operator must act), yet
transient, since a corrected setting takes effect within a minute without a redeploy and Telegram should
redeliver what arrived meanwhile rather than have it answered with the generic words and lost. A bug is
deterministic on the chat platforms (a redelivery would fail the same way: 200 with the generic words); the
job runner still retries it until its last attempt, since what a job did not foresee is as often the world
outside as our code. A refusal is an answer, not an incident: DEBUG.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from enum import StrEnum

from ttfd.core.errors import ConfigError, Cooldown, DomainError, PermanentJobError
from ttfd.core.i18n import _
from ttfd.core.settings import SecretUnavailable

DEFAULT_RETRY_AFTER_S = 2  # what a 503 asks its caller to wait when the cause does not say
# The one text for "try again in a moment, nothing happened" and the one for "our fault".
BUSY = _("TTFD is very busy right now and did not do that. Nothing changed; please try again in a few seconds.")
GENERIC = _(
    "That did not work, and nothing was changed. Something went wrong on our side; please try again in a moment."
)


class Kind(StrEnum):
    REFUSED = "refused"  # the person's request cannot be done as asked: its own words
    TRANSIENT = "transient"  # the database or an API could not serve now; the same request may succeed later
    PERMANENT = "permanent"  # retrying cannot help (an API refused, a job's payload is wrong)
    BUG = "bug"  # nothing we foresaw: our code


@dataclass(frozen=True)
class Failure:
    kind: Kind
    status: int  # the HTTP status the site (and a scheduled function) answers
    words: str  # a catalog Msg, said in the reader's language where it is shown
    retry: bool  # the same request may succeed in a moment
    level: int  # how loudly to log it (logging.DEBUG … ERROR)
    retry_after: float | None = None  # seconds, when the cause says (a cooldown, an API's 429)


def classify(exc: BaseException) -> Failure:
    """The one mapping from an exception to what every surface says and does (see the module's table)."""
    if isinstance(exc, DomainError):
        wait = float(exc.retry_after) if isinstance(exc, Cooldown) else None
        return Failure(Kind.REFUSED, exc.status, exc.message, retry=False, level=logging.DEBUG, retry_after=wait)
    # Only what db.run itself calls transient: another database error may be deterministic (a value too big
    # for an index), and Telegram would redeliver it for a day. Nothing imported ttfd.core.db, so nothing raised
    # its Unavailable: psycopg stays unloaded on a path without the database (a Discord PING).
    if isinstance(exc, SecretUnavailable):
        return Failure(Kind.TRANSIENT, 503, BUSY, retry=True, level=logging.WARNING)
    if "ttfd.core.db" in sys.modules:
        from ttfd.core.db import Unavailable

        if isinstance(exc, Unavailable):
            return Failure(Kind.TRANSIENT, 503, BUSY, retry=True, level=logging.WARNING)
    if isinstance(exc, ConfigError):  # after SecretUnavailable, its subclass that a moment may cure
        return Failure(Kind.TRANSIENT, 503, BUSY, retry=True, level=logging.ERROR)
    if isinstance(exc, PermanentJobError):
        return Failure(Kind.PERMANENT, 500, GENERIC, retry=False, level=logging.ERROR)
    if "ttfd.clients.http" in sys.modules:  # no client was imported, so none raised: httpx stays unloaded
        from ttfd.clients.http import HTTPError

        if isinstance(exc, HTTPError):
            if exc.retryable:
                return Failure(Kind.TRANSIENT, 503, BUSY, True, logging.WARNING, retry_after=exc.retry_after)
            return Failure(Kind.PERMANENT, 502, GENERIC, retry=False, level=logging.ERROR)
    return Failure(Kind.BUG, 500, GENERIC, retry=False, level=logging.ERROR)


def report(log: logging.Logger, exc: BaseException, what: str) -> Failure:
    """Classify `exc` and log it once at its level (a bug with its traceback): `what` names the request."""
    failure = classify(exc)
    if log.isEnabledFor(failure.level):
        if failure.kind is Kind.BUG:
            log.log(failure.level, "%s failed", what, exc_info=exc)
        else:
            log.log(failure.level, "%s %s: %s: %s", what, failure.kind, type(exc).__name__, exc)
    return failure


def retry_headers(failure: Failure) -> dict[str, str]:
    """Retry-After for an answer that asks to be tried again: the cause's wait (whole seconds, at least 1),
    else DEFAULT_RETRY_AFTER_S; nothing when trying again cannot help."""
    if failure.retry_after is not None:
        return {"Retry-After": str(max(1, math.ceil(failure.retry_after)))}
    return {"Retry-After": str(DEFAULT_RETRY_AFTER_S)} if failure.retry else {}
