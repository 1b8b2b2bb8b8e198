"""Leaderboards: /leaderboard on Discord and /top on Telegram (same command), paged with buttons; the
website's board. Boards: all-time XP, this week's, this season's (ttfd.features.seasons), coins. Players who
hide their stats appear to others as "Hidden player"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ttfd.features.leaderboards import service
from ttfd.features.leaderboards.service import BOARDS, TITLES, Board
from ttfd.registry import Feature
from ttfd.ui.actions import Action
from ttfd.ui.commands import ActionHandler, Command, Ctx, Kind, Option, Options
from ttfd.ui.reply import Button, Reply
from ttfd.ui.text import Part, bold, code, lines, number
from ttfd.web import Problem, Route, WebCtx, WebResponse, json_response

PAGE_SIZE = 10
MAX_PAGE = 100_000
MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}


@dataclass(frozen=True)
class LeaderboardPage(Action):
    """Prev/Next/board buttons; `owner` (who asked) pages the message in place, anyone else gets a copy."""

    prefix = "lb"
    signed = True
    board: Literal["xp", "week", "season", "coins"]
    page: int
    owner: int


def board_reply(ctx: Ctx, board: Board, page: int, *, edit: bool = False, private: bool = False) -> Reply:
    """One page of a board as every platform shows it, with Prev/Next and the other boards."""
    view = service.board_page(ctx.conn, board, page, ctx.user.id, PAGE_SIZE)
    unit = "coins" if board == "coins" else "XP"
    rows: list[tuple[Part, ...]] = []
    for e in view.entries:
        name, _ = e.shown(ctx.user.id)
        rows.append((MEDALS.get(e.position) or code(f"#{e.position}"), " ", bold(name), f" — {number(e.value)} {unit}"))
    mine = f"You: #{view.mine[0]} with {number(view.mine[1])} {unit}" if view.mine else "You are not on this board yet"
    owner = ctx.user.id

    def go(label: str, target: Board, to: int, disabled: bool = False, style: str = "secondary") -> Button:
        return Button(label, LeaderboardPage(target, to, owner), style=style, disabled=disabled)  # type: ignore[arg-type]

    return Reply(
        title=f"🏆 {TITLES[board]}",
        body=lines(*rows) if rows else ("Nobody here yet — be the first!",),
        footer=f"Page {view.page + 1}/{view.pages} · {mine}",
        color=0xF1C40F,
        rows=(
            (
                go("◀ Prev", board, view.page - 1, view.page == 0),
                go("Next ▶", board, view.page + 1, view.page >= view.pages - 1),
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
        raise Problem(400, f"board must be one of {', '.join(BOARDS)}.")
    raw_page = ctx.request.query.get("page", "1")
    if not re.fullmatch(r"[0-9]{1,6}", raw_page) or not 1 <= int(raw_page) <= MAX_PAGE:
        raise Problem(400, f"page must be a whole number from 1 to {MAX_PAGE}.")
    viewer = ctx.session.user_id if ctx.session else None
    bp = service.board_page(ctx.conn, board, int(raw_page) - 1, viewer, PAGE_SIZE)

    def entry(e: service.Entry) -> dict[str, object]:
        name, user_id = e.shown(viewer)
        return {"position": e.position, "user_id": user_id, "name": name, "value": e.value, "me": e.user_id == viewer}

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
            "Top players",
            leaderboard,
            (
                Option(
                    "board",
                    Kind.STRING,
                    "Which board",
                    choices=(("XP", "xp"), ("This week", "week"), ("This season", "season"), ("Coins", "coins")),
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
