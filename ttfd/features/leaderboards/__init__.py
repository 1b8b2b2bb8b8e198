"""Leaderboards: /leaderboard on Discord and /top on Telegram (same command), paged with buttons; the
website's board. Boards: all-time XP, this week's, this season's (ttfd.features.seasons), coins. Players who
hide their stats appear to others as "Hidden player"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ttfd.core.i18n import C_, N_, Msg, _
from ttfd.features.leaderboards import service
from ttfd.features.leaderboards.service import BOARDS, TITLES, Board
from ttfd.registry import Feature
from ttfd.ui.actions import Action
from ttfd.ui.commands import ActionHandler, Command, Ctx, Kind, Option, Options
from ttfd.ui.reply import Button, Reply
from ttfd.ui.text import Span, Text, bold, code, lines
from ttfd.web import Problem, Route, WebCtx, WebResponse, json_response

PAGE_SIZE = 10
MAX_PAGE = 100_000
MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}
HIDDEN = _("Hidden player")  # how someone who hides their stats appears to everyone else


@dataclass(frozen=True)
class LeaderboardPage(Action):
    """Prev/Next/board buttons; `owner` (who asked) pages the message in place, anyone else gets a copy."""

    prefix = "lb"
    signed = True
    board: Literal["xp", "week", "season", "coins"]
    page: int
    owner: int


def _score(board: Board, value: int) -> Msg:
    return N_("{n} coin", "{n} coins", value) if board == "coins" else _("{xp} XP", xp=value)


def _mine(board: Board, mine: tuple[int, int] | None) -> Msg:
    if mine is None:
        return _("You are not on this board yet")
    position, value = mine
    if board == "coins":
        return N_("You: #{position} with {n} coin", "You: #{position} with {n} coins", value, position=position)
    return _("You: #{position} with {xp} XP", position=position, xp=value)


def board_reply(ctx: Ctx, board: Board, page: int, *, edit: bool = False, private: bool = False) -> Reply:
    """One page of a board as every platform shows it, with Prev/Next and the other boards."""
    view = service.board_page(ctx.conn, board, page, ctx.user.id, PAGE_SIZE)
    rows: list[Text] = []
    for e in view.entries:
        name, shown_id = e.shown(ctx.user.id)
        who = bold(name) if shown_id is not None else Span("bold", HIDDEN)
        place = MEDALS.get(e.position) or code(f"#{e.position}")
        rows.append((_("{place} {name} — {score}", place=place, name=who, score=_score(board, e.value)),))
    owner = ctx.user.id

    def go(label: str, target: Board, to: int, disabled: bool = False, style: str = "secondary") -> Button:
        return Button(label, LeaderboardPage(target, to, owner), style=style, disabled=disabled)  # type: ignore[arg-type]

    return Reply(
        title=_("🏆 {board}", board=TITLES[board]),
        body=lines(*rows) if rows else (_("Nobody here yet — be the first!"),),
        footer=_("Page {page}/{pages} · {mine}", page=view.page + 1, pages=view.pages, mine=_mine(board, view.mine)),
        color=0xF1C40F,
        rows=(
            (
                go(C_("button", "◀ Prev"), board, view.page - 1, view.page == 0),
                go(C_("button", "Next ▶"), board, view.page + 1, view.page >= view.pages - 1),
            ),
            tuple(go(TITLES[b], b, 0, style="primary" if b == board else "secondary") for b in BOARDS),
        ),
        edit=edit,
        private=private,
    )


def leaderboard(ctx: Ctx, opts: Options) -> Reply:
    return board_reply(ctx, opts.get("board", "xp"), 0)


def page(ctx: Ctx, action: LeaderboardPage) -> Reply:
    if action.owner == ctx.user.id:
        return board_reply(ctx, action.board, action.page, edit=True)
    # Someone else's board: page a private copy instead of changing what everyone sees.
    return board_reply(ctx, action.board, action.page, private=True)


def _get_board(ctx: WebCtx) -> WebResponse:
    board = ctx.request.query.get("board", "xp")
    if board not in BOARDS:
        raise Problem(400, _("board must be one of {boards}.", boards=", ".join(BOARDS)))
    raw_page = ctx.request.query.get("page", "1")
    if not re.fullmatch(r"[0-9]{1,6}", raw_page) or not 1 <= int(raw_page) <= MAX_PAGE:
        raise Problem(400, _("page must be a whole number from 1 to {max}.", max=MAX_PAGE))
    viewer = ctx.session.user_id if ctx.session else None
    bp = service.board_page(ctx.conn, board, int(raw_page) - 1, viewer, PAGE_SIZE)

    def entry(e: service.Entry) -> dict[str, object]:
        name, user_id = e.shown(viewer)
        shown = name if user_id is not None else ctx.say(HIDDEN)  # in the reader's language
        return {"position": e.position, "user_id": user_id, "name": shown, "value": e.value, "me": e.user_id == viewer}

    body = {
        "board": bp.board,
        "page": bp.page + 1,
        "pages": bp.pages,
        "page_size": PAGE_SIZE,
        "total": bp.total,
        "entries": [entry(e) for e in bp.entries],
        "mine": {"position": bp.mine[0], "value": bp.mine[1]} if bp.mine else None,
    }
    return json_response(body, headers={"Cache-Control": "private, max-age=15"})


FEATURE = Feature(
    name="leaderboards",
    summary=__doc__ or "",
    commands=(
        Command(
            "leaderboard",
            _("Top players"),
            leaderboard,
            (
                Option(
                    "board",
                    Kind.STRING,
                    _("Which board"),
                    choices=(
                        (C_("board", "XP"), "xp"),
                        (C_("board", "This week"), "week"),
                        (C_("board", "This season"), "season"),
                        (C_("board", "Coins"), "coins"),
                    ),
                ),
            ),
            telegram_name="top",
            writes=False,
        ),
    ),
    actions=(ActionHandler(LeaderboardPage, page, writes=False),),
    routes=(Route("api_leaderboard", "/api/leaderboard", {"GET": _get_board}, summary="a page of a board"),),
    merge=service.merge_rows,
)
