"""Image captions: /imgsay draws a text on the picture sent with it (Discord: the image option; Telegram: the
photo the command is the caption of), or on a plain card when none is sent, and answers with the PNG. The
download, the checks (ttfd.core.pictures) and the drawing (ttfd/features/imgsay/draw.py) run in the job."""

from __future__ import annotations

from ttfd.core import ratelimit
from ttfd.core.errors import BadInput
from ttfd.core.i18n import _
from ttfd.registry import Feature
from ttfd.ui.commands import Command, Ctx, FileRef, Kind, Option, Options
from ttfd.ui.reply import Attachment, Reply, say

MAX_TEXT = 300  # characters (draw.MAX_TEXT; repeated so that importing the command does not import Pillow)
LIMIT = (5, 60)  # captions per person per minute, shared by every instance (ttfd.core.ratelimit)


def imgsay_cmd(ctx: Ctx, opts: Options) -> Reply:
    """Deferred (it runs in a job): fetch and check the picture, draw the caption, answer with the PNG."""
    from ttfd.core import pictures
    from ttfd.features.imgsay import draw

    raw_text = str(opts.get("text") or "")
    if "\x00" in raw_text:
        raise BadInput(_("The caption cannot contain control characters."))
    if len(raw_text) > MAX_TEXT:
        raise BadInput(_("The caption is too long: at most {max} characters.", max=MAX_TEXT))
    text = draw.caption_text(raw_text)
    if not text:
        raise BadInput(_("Write the caption's text (letters the font can draw; emoji are left out)."))
    decision = ratelimit.hit(ctx.conn, f"imgsay:{ctx.user.id}", *LIMIT)
    if not decision.allowed:  # answered, not raised: the count must commit
        return say(_("⏳ Too many pictures. Try again in {s} s.", s=decision.retry_after_s), private=True)
    picture: FileRef | None = opts.get("image")
    image = None
    if picture is not None:
        from ttfd.clients import downloads

        raw = downloads.fetch(picture, hosts=ctx.settings.discord_cdn_hosts, max_bytes=pictures.MAX_BYTES).data
        image = pictures.intake(raw, picture.content_type or None, picture.filename or None).image
    return Reply(attachment=Attachment("imgsay.png", draw.render(text, image)))


FEATURE = Feature(
    name="imgsay",
    summary=__doc__ or "",
    commands=(
        Command(
            "imgsay",
            _("Draw a caption on a picture (or on a plain card)"),
            imgsay_cmd,
            (
                Option(
                    "text",
                    Kind.STRING,
                    _("The caption; a | splits it into top and bottom"),
                    required=True,
                    max_length=MAX_TEXT,
                    rest=True,
                ),
                Option("image", Kind.ATTACHMENT, _("The picture (PNG, JPEG or WebP; default: a plain card)")),
            ),
            defer=True,
        ),
    ),
)
