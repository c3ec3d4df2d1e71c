"""reportlab building blocks for printed forms: the CID font, styles, a QR code, the page frame.

Only reportlab's built-in Adobe CID font STSong-Light is used: every PDF viewer
and printer driver in a county office has it (or substitutes it), and no font
file has to ship with the project or be embedded in each PDF.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.lib import textsplit as _textsplit
from reportlab.platypus import paragraph as _paragraph
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle

FONT = "STSong-Light"
# Runs of ASCII (reference and ID numbers, phones, amounts) are set in Helvetica: the CID
# font's Latin glyphs are proportional and a substituting viewer spaces them unevenly,
# while a clerk must read 360732197909152130 without doubt.
LATIN = "Helvetica"
_ASCII_RUNS = re.compile(r"[\x20-\x7e]+")
PAGE_W, PAGE_H = A4
MARGIN = 18 * mm
TOP = 30 * mm   # room for the header band: county line, reference number, QR code
BOTTOM = 20 * mm
INK = colors.black
GRID = colors.Color(0.25, 0.25, 0.25)
SHADE = colors.Color(0.93, 0.93, 0.93)

pdfmetrics.registerFont(UnicodeCIDFont(FONT))

# reportlab's CJK line breaking keeps Japanese closing marks off the start of a line but
# not Chinese full-width ones: without these a line may begin with "，" or "》". The list
# only grows (a mark added here hangs in the margin instead), so nothing else changes.
# (textsplit wraps a one-font paragraph, paragraph.py a mixed one: each has its own copy.)
_CLOSING = "，。、；：！？）》」』”’％"
_textsplit.ALL_CANNOT_START += _CLOSING
_paragraph.ALL_CANNOT_START += _CLOSING


def style(size: float = 10.5, leading: float | None = None, **kw) -> ParagraphStyle:
    """A paragraph style in the CID font; CJK word wrap breaks lines between any two characters."""
    return ParagraphStyle(f"s{size}", fontName=FONT, fontSize=size, leading=leading or size * 1.55,
                          wordWrap="CJK", **kw)


BODY = style(11, 20, firstLineIndent=22)
PLAIN = style(11, 18)
CELL = style(10, 14)
SMALL = style(8.5, 12)
HEADING = style(11.5, 18, spaceBefore=8, spaceAfter=4)


def runs(text: str) -> list[tuple[str, str]]:
    """The text cut into (font, chunk) runs: ASCII in LATIN, the rest in the CID font."""
    out, at = [], 0
    for match in _ASCII_RUNS.finditer(text):
        if match.start() > at:
            out.append((FONT, text[at:match.start()]))
        out.append((LATIN, match.group()))
        at = match.end()
    if at < len(text):
        out.append((FONT, text[at:]))
    return out


def para(text: str, st: ParagraphStyle = CELL) -> Paragraph:
    """A paragraph of plain text (reportlab's mini-markup characters escaped, ASCII in LATIN)."""
    def escape(chunk: str) -> str:
        return chunk.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Paragraph("".join(f'<font name="{LATIN}">{escape(chunk)}</font>' if font == LATIN else escape(chunk)
                             for font, chunk in runs(str(text))), st)


def text_width(text: str, size: float) -> float:
    """The printed width of a line of mixed text."""
    return sum(pdfmetrics.stringWidth(chunk, font, size) for font, chunk in runs(text))


def draw_text(c: rl_canvas.Canvas, x: float, y: float, text: str, size: float, right: bool = False) -> None:
    """One line of mixed text at (x, y), or ending at x when `right`."""
    if right:
        x -= text_width(text, size)
    for font, chunk in runs(text):
        c.setFont(font, size)
        c.drawString(x, y, chunk)
        x += pdfmetrics.stringWidth(chunk, font, size)


class Title(Flowable):
    """A form's title: large, centred, letter-spaced and drawn with a stroke, since the CID
    font has no bold face."""

    def __init__(self, text: str, size: float = 20):
        super().__init__()
        self.text, self.size = text, size

    def wrap(self, avail_w, avail_h):
        self.width = avail_w
        return avail_w, self.size * 2.2

    def draw(self):
        c = self.canv
        spaced = " ".join(self.text) if len(self.text) <= 8 else self.text
        c.saveState()
        c.setFont(FONT, self.size)
        c.setLineWidth(0.45)
        text = c.beginText()
        text.setTextRenderMode(2)  # fill and stroke: a faux bold
        width = pdfmetrics.stringWidth(spaced, FONT, self.size)
        text.setTextOrigin((self.width - width) / 2, self.size * 0.7)
        text.textLine(spaced)
        c.drawText(text)
        c.restoreState()


def grid_table(rows: list[list], widths: list[float], *, header: bool = False,
               label_cols: tuple[int, ...] = (), height: float | None = None,
               extra: list[tuple] = (), ruled: bool = True) -> Table:
    """A ruled table as on a printed form: label cells shaded, text vertically centred; not
    `ruled`: only a box, with a line under the first row."""
    table = Table(rows, colWidths=widths, rowHeights=height, repeatRows=1 if header else 0)
    lines = ([("GRID", (0, 0), (-1, -1), 0.6, GRID)] if ruled else
             [("BOX", (0, 0), (-1, -1), 0.6, GRID), ("LINEBELOW", (0, 0), (-1, 0), 0.6, GRID)])
    commands = lines + [("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 10),
                ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]
    if header:
        commands += [("BACKGROUND", (0, 0), (-1, 0), SHADE), ("ALIGN", (0, 0), (-1, 0), "CENTER")]
    for col in label_cols:
        commands.append(("BACKGROUND", (col, 0), (col, -1), SHADE))
    table.setStyle(TableStyle(commands + list(extra)))
    return table


def signature_line(parts: list[tuple[str, float]], width: float) -> Table:
    """Labels each followed by a ruled blank of the given share of the width: 申请人：＿＿ 日期：＿＿."""
    cells, widths, lines = [], [], []
    for index, (label, share) in enumerate(parts):
        label_w = text_width(label, 11) + 8   # the cell's own right padding is 6
        cells += [para(label, PLAIN), ""]
        widths += [label_w, width * share - label_w]
        lines.append(("LINEBELOW", (2 * index + 1, 0), (2 * index + 1, 0), 0.7, INK))
    table = Table([cells], colWidths=widths, rowHeights=12 * mm)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                               ("LEFTPADDING", (0, 0), (-1, -1), 0), *lines]))
    return table


def draw_qr(c: rl_canvas.Canvas, value: str, x: float, y: float, size: float) -> None:
    """A QR code of `value` with its lower-left corner at (x, y)."""
    widget = QrCodeWidget(value, barLevel="M", barBorder=1)
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (right - left), 0, 0, size / (top - bottom), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, c, x, y)


@dataclass(frozen=True)
class PageFrame:
    """What every page carries: the county line, the reference number with its QR code, the
    footer note and 第n页 共N页."""

    header: str
    ref_label: str
    ref: str
    footer: str
    page_text: Callable[[int, int], str]

    def draw(self, c: rl_canvas.Canvas, page: int, pages: int) -> None:
        """Decorate one finished page."""
        qr = 20 * mm
        c.saveState()
        draw_text(c, MARGIN, PAGE_H - 14 * mm, self.header, 10)
        draw_qr(c, self.ref, PAGE_W - MARGIN - qr, PAGE_H - 8 * mm - qr, qr)
        draw_text(c, PAGE_W - MARGIN - qr - 3 * mm, PAGE_H - 14 * mm, f"{self.ref_label}：{self.ref}", 12,
                  right=True)
        c.setLineWidth(0.8)
        c.line(MARGIN, PAGE_H - TOP + 2 * mm, PAGE_W - MARGIN, PAGE_H - TOP + 2 * mm)
        c.setFillColor(GRID)
        draw_text(c, MARGIN, 11 * mm, self.footer, 8)
        draw_text(c, PAGE_W - MARGIN, 11 * mm, f"{self.ref_label} {self.ref}　{self.page_text(page, pages)}", 8,
                  right=True)
        c.restoreState()


def framed_canvas(frame: PageFrame) -> type[rl_canvas.Canvas]:
    """A canvas class that keeps its pages until the end, so each can say 共N页."""

    class FramedCanvas(rl_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 — reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                frame.draw(self, number, total)
                super().showPage()
            super().save()

    return FramedCanvas


CENTERED = style(11, 18, alignment=TA_CENTER)
