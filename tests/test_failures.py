"""One `classify(exc)` (ttfd.core.failures) decides what every failure is; each surface only renders it:
the table of exceptions, then Discord, Telegram, the site (JSON and login pages), a scheduler's caller, the
deferred reply and the job queue — status codes, the words in Russian and English, Retry-After."""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import telegram_update
from functions.http import failure_response
from tests.conftest import TG_SECRET, encode, interaction, sign
from ttfd import web
from ttfd.clients.http import HTTPError
from ttfd.core import db, jobs
from ttfd.core.errors import (
    BadInput,
    ConfigError,
    Cooldown,
    DomainError,
    Forbidden,
    InsufficientFunds,
    NotFound,
    PermanentJobError,
)
from ttfd.core.failures import BUSY, GENERIC, Failure, Kind, classify, report, retry_headers
from ttfd.core.i18n import _, said
from ttfd.core.settings import SecretUnavailable
from ttfd.ui.deferred import deliver
from ttfd.ui.reply import BUSY as CHAT_BUSY
from ttfd.ui.reply import failed

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
NO = _("No such thing.")

# exception → kind, status, words, retry, log level, retry_after
TABLE: list[tuple[BaseException, Kind, int, str | None, bool, int, float | None]] = [
    (BadInput(NO), Kind.REFUSED, 400, NO, False, logging.DEBUG, None),
    (NotFound(NO), Kind.REFUSED, 404, NO, False, logging.DEBUG, None),
    (Forbidden(NO), Kind.REFUSED, 403, NO, False, logging.DEBUG, None),
    (InsufficientFunds(), Kind.REFUSED, 409, None, False, logging.DEBUG, None),  # its own words
    (Cooldown(90), Kind.REFUSED, 429, None, False, logging.DEBUG, 90.0),
    (web.Problem(413, NO), Kind.REFUSED, 413, NO, False, logging.DEBUG, None),
    (db.Unavailable("pool exhausted"), Kind.TRANSIENT, 503, BUSY, True, logging.WARNING, None),
    (SecretUnavailable("secret unread"), Kind.TRANSIENT, 503, BUSY, True, logging.WARNING, None),
    # A setting missing or invalid: an operator must act (ERROR), and once fixed it takes effect without a
    # redeploy, so what arrived meanwhile is redelivered rather than answered as a bug.
    (ConfigError("GAMES_MIN_BET must not exceed GAMES_MAX_BET"), Kind.TRANSIENT, 503, BUSY, True, logging.ERROR, None),
    (HTTPError(429, "slow down", retry_after=3.2), Kind.TRANSIENT, 503, BUSY, True, logging.WARNING, 3.2),
    (HTTPError(502, "bad gateway"), Kind.TRANSIENT, 503, BUSY, True, logging.WARNING, None),
    (HTTPError(0, "connection reset"), Kind.TRANSIENT, 503, BUSY, True, logging.WARNING, None),
    (HTTPError(404, "unknown channel"), Kind.PERMANENT, 502, GENERIC, False, logging.ERROR, None),
    (PermanentJobError("bad payload"), Kind.PERMANENT, 500, GENERIC, False, logging.ERROR, None),
    (KeyError("a bug"), Kind.BUG, 500, GENERIC, False, logging.ERROR, None),
]


@pytest.mark.parametrize(("exc", "kind", "status", "words", "retry", "level", "wait"), TABLE)
def test_classify(exc, kind, status, words, retry, level, wait) -> None:
    failure = classify(exc)
    assert (failure.kind, failure.status, failure.retry, failure.level) == (kind, status, retry, level)
    assert failure.words == (exc.message if words is None else words) and failure.retry_after == wait
    # Only what the same request may get past in a moment asks to be tried again, with how long to wait.
    headers = retry_headers(failure)
    if retry or wait is not None:
        assert int(headers["Retry-After"]) >= max(1, int(wait or 0))
    else:
        assert headers == {}


def test_every_text_is_said_in_both_languages() -> None:
    for msg in (BUSY, GENERIC):
        ru, en = said(msg, "ru"), said(msg, "en")
        assert en == str(msg) and ru != en and ru.strip()
    assert "перегружен" in said(BUSY, "ru") and "сломалось" in said(GENERIC, "ru")


def test_each_failure_is_logged_once_at_its_level(caplog) -> None:
    log = logging.getLogger("ttfd.test_failures")
    caplog.set_level(logging.DEBUG, logger=log.name)
    for exc in (BadInput(NO), db.Unavailable("late"), ConfigError("DAY_TZ is wrong"), KeyError("a bug")):
        try:
            raise exc
        except Exception as raised:
            report(log, raised, "request 1")
    levels = [(r.levelno, r.exc_info is not None) for r in caplog.records]
    # A setting to fix is said loudly but is no bug (no traceback); a bug has its traceback.
    assert levels == [(logging.DEBUG, False), (logging.WARNING, False), (logging.ERROR, False), (logging.ERROR, True)]
    assert "DAY_TZ is wrong" in caplog.records[2].getMessage()


# --- each surface renders it ----------------------------------------------------------------------------


def test_chat_replies_show_the_words_privately() -> None:
    assert failed(classify(db.Unavailable("x"))).private and str(CHAT_BUSY).endswith(str(BUSY))
    bug = failed(classify(KeyError("x")))
    assert bug.private and said(bug.body[0], "ru").startswith("😵 ") and "сломалось" in said(bug.body[0], "ru")
    refusal = failed(classify(NotFound(NO)))
    assert refusal.body == ("⚠️ ", NO)


def _boom(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """/daily raises `exc` inside its transaction, on every platform."""
    from ttfd.features import daily

    def raise_it(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(daily, "claim_daily", raise_it)


@pytest.mark.parametrize(
    ("exc", "locale", "expected"),
    [
        (db.Unavailable("pool exhausted"), "ru", "⏳ " + said(BUSY, "ru")),
        (db.Unavailable("pool exhausted"), "en-US", "⏳ " + str(BUSY)),
        (ConfigError("ACTIONS_SECRET is required on AWS but not set"), "ru", "⏳ " + said(BUSY, "ru")),
        (KeyError("a bug"), "ru", "😵 " + said(GENERIC, "ru")),
        (HTTPError(404, "unknown member"), "en-GB", "😵 " + str(GENERIC)),
    ],
)
def test_discord_always_answers_in_time_with_words(app_env, monkeypatch, exc, locale, expected) -> None:
    _boom(monkeypatch, exc)
    body = encode(interaction("/daily", user=4242, locale=locale))
    resp = create_app("discord_interactions", "main.py").test_client().post("/", data=body, headers=sign(body))
    data = resp.get_json()
    # Discord never redelivers: always a 200 with words, seen only by whoever asked.
    assert resp.status_code == 200 and data["type"] == 4
    assert data["data"]["content"] == expected and data["data"]["flags"] == 64


@pytest.mark.parametrize(
    ("exc", "language", "status", "text"),
    [
        (db.Unavailable("pool exhausted"), "ru", 503, None),
        (HTTPError(429, "slow down", retry_after=7), "en", 503, None),
        (ConfigError("DAY_TZ must be an IANA time zone"), "en", 503, None),
        (KeyError("a bug"), "ru", 200, "😵 " + said(GENERIC, "ru")),
        (KeyError("a bug"), "en", 200, "😵 " + str(GENERIC)),
        (PermanentJobError("no"), "en", 200, "😵 " + str(GENERIC)),
    ],
)
def test_telegram_redelivers_only_what_may_succeed(app_env, fresh_db, monkeypatch, exc, language, status, text):
    _boom(monkeypatch, exc)
    update = telegram_update("/daily", user=9100, update_id=700_001, language=language)
    resp = (
        create_app("telegram_webhook", "main.py").test_client().post("/", data=json.dumps(update), headers=TG_HEADERS)
    )
    assert resp.status_code == status
    if status == 503:  # Telegram redelivers a non-2xx; the claim makes that safe
        wait = getattr(exc, "retry_after", None)
        assert resp.headers["Retry-After"] == str(int(wait) if wait else 2)
    else:  # a redelivery would fail the same way: answered, with the words
        assert resp.get_json()["text"] == text
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM daily_claims").fetchone() == (0,)


def _site_failure(exc: BaseException, accept_language: str) -> web.WebResponse:
    def handler(ctx: web.WebCtx) -> web.WebResponse:
        raise exc

    route = web.Route("api_test", "/api/test", {"GET": handler}, public=True)
    request = web.WebRequest(
        method="GET",
        path="/api/test",
        query={},
        headers={"accept-language": accept_language},
        cookies={},
        body=b"",
        remote_addr="127.0.0.1",
    )
    from ttfd.features import REGISTRY

    return web.serve(route, request, REGISTRY)


@pytest.mark.parametrize(
    ("exc", "lang", "status", "title", "retry_after"),
    [
        (db.Unavailable("late"), "ru", 503, said(BUSY, "ru"), "2"),
        (HTTPError(503, "down", retry_after=4.5), "en", 503, str(BUSY), "5"),
        (ConfigError("SEASON_LENGTH must be 'month'"), "en", 503, str(BUSY), "2"),
        (KeyError("a bug"), "ru", 500, said(GENERIC, "ru"), None),
        (HTTPError(403, "missing access"), "en", 502, str(GENERIC), None),
        (NotFound(NO), "en", 404, str(NO), None),
        (Cooldown(30), "en", 429, str(Cooldown(30).message), "30"),
        (web.Problem(413, NO, {"X-Extra": "1"}), "ru", 413, said(NO, "ru"), None),
    ],
)
def test_the_site_answers_problem_json(app_env, exc, lang, status, title, retry_after) -> None:
    resp = _site_failure(exc, lang)
    body = json.loads(resp.body)
    assert resp.status == status and resp.content_type == "application/problem+json"
    assert body == {"title": title, "status": status} and resp.headers["Content-Language"] == lang
    assert resp.headers.get("Retry-After") == retry_after
    assert resp.headers["Cache-Control"] == "no-store"  # said in one reader's language: never shared
    if isinstance(exc, web.Problem):
        assert resp.headers["X-Extra"] == "1"


def test_a_login_page_renders_the_same_failure(app_env, monkeypatch) -> None:
    from ttfd.web import sessions

    def busy(*args: Any, **kwargs: Any) -> Any:
        raise db.Unavailable("pool exhausted")

    monkeypatch.setattr(sessions, "begin_login", busy)
    client = create_app("auth_discord_login", "main.py").test_client()
    resp = client.get("/?next=/me", headers={"Accept-Language": "ru"})
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"
    assert resp.mimetype == "text/html" and said(BUSY, "ru") in resp.get_data(as_text=True)
    monkeypatch.setattr(sessions, "begin_login", lambda *a, **k: {}["bug"])
    resp = client.get("/?next=/me", headers={"Accept-Language": "en"})
    assert resp.status_code == 500 and "Retry-After" not in resp.headers
    assert str(GENERIC) in resp.get_data(as_text=True)


def test_a_scheduler_is_told_in_machine_words() -> None:
    busy = failure_response(classify(db.Unavailable("late")), "run_jobs not run")
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
    assert busy.get_json() == {"title": "run_jobs not run: transient", "status": 503}
    bug = failure_response(classify(KeyError("x")), "cleanup not run")
    assert bug.status_code == 500 and "Retry-After" not in bug.headers


@pytest.mark.parametrize(
    ("exc", "locale", "words"),
    [(KeyError("x"), "ru", "😵 " + said(GENERIC, "ru")), (db.Unavailable("late"), "en", "⏳ " + str(BUSY))],
)
def test_a_deferred_reply_that_failed_says_why(app_env, exc, locale, words) -> None:
    from ttfd.core.settings import get_settings

    target = {"kind": "telegram", "chat_id": 31, "locale": locale}
    ctx = jobs.JobCtx(conn=None, settings=get_settings(), registry=_Handlers(exc), job_id=1, attempt=6, final=True)  # type: ignore[arg-type]
    deliver(target, exc, ctx)
    [sent] = app_env.telegram.calls_of("sendMessage")
    assert sent["chat_id"] == 31 and sent["text"] == words


class _Handlers:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def job_handler(self, kind: str) -> Any:
        def handler(job: jobs.JobCtx, payload: dict[str, Any]) -> None:
            raise self.exc

        return handler


@pytest.mark.parametrize(
    ("exc", "status", "min_delay_s"),
    [
        (HTTPError(429, "slow down", retry_after=30), "pending", 30),  # transient: again, after the API's wait
        (db.Unavailable("late"), "pending", 0),
        (KeyError("a bug"), "pending", 0),  # unforeseen: retried until its last attempt
        (PermanentJobError("bad payload"), "dead", None),  # retrying cannot help
        (Forbidden(NO), "dead", None),  # a refusal: said to the person, never retried
    ],
)
def test_the_job_queue_retries_only_what_may_succeed(app_env, fresh_db, exc, status, min_delay_s) -> None:
    with db.transaction() as conn:
        job_id = jobs.enqueue(conn, "test.fail", {})
    stats = jobs.run_due(_Handlers(exc))
    with psycopg.connect(fresh_db) as c:
        row = c.execute(
            "SELECT status, attempts, extract(epoch FROM run_at - now())::float8, last_error FROM jobs WHERE id = %s",
            (job_id,),
        ).fetchone()
    assert row is not None and row[0] == status and row[1] == 1 and type(exc).__name__ in row[3]
    if status == "pending":
        assert stats.retried == 1 and row[2] >= (min_delay_s or 0) - 1
    else:
        assert stats.dead == 1


def test_a_failure_is_a_value() -> None:
    f = Failure(Kind.TRANSIENT, 503, BUSY, retry=True, level=logging.WARNING, retry_after=0.2)
    assert retry_headers(f) == {"Retry-After": "1"}  # at least a second
    with pytest.raises(AttributeError):
        f.status = 200  # type: ignore[misc]
    assert isinstance(classify(DomainError(NO)), Failure)
