"""Charts of a simulation run: histogram and S-curve (cumulative probability), without and with
the change, as PNG or SVG.

Drawn with matplotlib's Agg canvas directly (no pyplot: no global state, safe in threads) from
the compact distributions a run stores (histogram counts and quantiles every half percent).
Labels are translated. Chinese needs a font with CJK glyphs: the first installed one of
:data:`CJK_FONTS` is used; when none is installed the chart is labelled in English rather than
with empty boxes (the page around it stays Chinese).
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Droid Sans Fallback",
    "AR PL UMing CN",
)  # fmt: skip
KINDS = ("histogram", "scurve")
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
METRICS = ("finish", "cost")
BASE_COLOUR, CHANGE_COLOUR = "#4a6fa5", "#d1495b"


# File names of those fonts, for one installed after matplotlib cached its list of fonts.
CJK_FILES = ("NotoSansCJK", "NotoSansSC", "SourceHanSans", "wqy-", "DroidSansFallback", "uming")


@functools.cache
def cjk_font() -> str | None:
    """The family name of an installed font that has Chinese glyphs, or None.

    matplotlib lists the system's fonts once and caches the list on disk; a font installed
    later (``fonts-noto-cjk`` on an existing machine) is not in it, so when none of
    :data:`CJK_FONTS` is listed their files are looked for and added.
    """
    from matplotlib import font_manager

    def listed() -> str | None:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FONTS if name in installed), None)

    found = listed()
    if found is None:
        for path in font_manager.findSystemFonts():
            if any(tag in Path(path).name for tag in CJK_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue  # unreadable: as if absent
        found = listed()
    return found


def _language() -> str | None:
    """The language to label in: the active one, or English when it needs a missing font."""
    lang = translation.get_language() or "en"
    if lang.lower().startswith("zh") and cjk_font() is None:
        return "en"
    return None


def draw(fmt: str, paint: Callable[[Any], None]) -> bytes:
    """A chart drawn by ``paint(ax)`` on a 7.5 × 3.6 in figure, as PNG or SVG bytes: labelled
    in the active language, or in English when that needs a CJK font that is missing."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    font = cjk_font()
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    override = _language()
    with (
        translation.override(override) if override else contextlib.nullcontext(),
        matplotlib.rc_context({"font.family": families, "svg.hashsalt": "cf"}),
    ):
        fig = Figure(figsize=(7.5, 3.6), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        paint(ax)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format=fmt, metadata={"Date": None} if fmt == "svg" else {})
    return out.getvalue()


def render(result: dict[str, Any], *, kind: str, fmt: str, metric: str = "finish") -> bytes:
    """The chart of ``result`` (a run's stored result) as PNG or SVG bytes."""
    return draw(fmt, lambda ax: _paint(ax, result, kind=kind, metric=metric))


def _paint(ax, result: dict[str, Any], *, kind: str, metric: str) -> None:
    data = result["charts"][metric]
    has_change = data.get("with_change_counts") is not None
    if kind == "histogram":
        _histogram(ax, data, has_change)
    else:
        _scurve(ax, data, has_change, result, metric)
    if metric == "finish":
        unit = _("working days") if result["calendar"] == "working" else _("calendar days")
        ax.set_xlabel(
            _("Project finish (%(unit)s from the start, %(date)s)")
            % {"unit": unit, "date": result["start_date"]}
        )
    else:
        ax.set_xlabel(_("Total cost (%(currency)s)") % {"currency": result["currency"]})
    title = _("Distribution") if kind == "histogram" else _("Cumulative probability (S-curve)")
    ax.set_title(
        _("%(title)s — %(n)s iterations") % {"title": title, "n": f"{result['iterations']:,}"},
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left" if kind == "histogram" else "lower right")


def _histogram(ax, data: dict[str, Any], has_change: bool) -> None:
    edges = data["edges"]
    width = edges[1] - edges[0]
    ax.bar(edges[:-1], data["baseline_counts"], width=width, align="edge",
           color=BASE_COLOUR, alpha=0.55, label=_("Without the change"))  # fmt: skip
    if has_change:
        ax.bar(edges[:-1], data["with_change_counts"], width=width, align="edge",
               color=CHANGE_COLOUR, alpha=0.45, label=_("With the change"))  # fmt: skip
    ax.set_ylabel(_("Iterations"))


def _scurve(ax, data: dict[str, Any], has_change: bool, result: dict, metric: str) -> None:
    levels = [i / 200 for i in range(201)]
    ax.plot(data["baseline_quantiles"], levels, color=BASE_COLOUR, label=_("Without the change"))
    if has_change:
        ax.plot(data["with_change_quantiles"], levels, color=CHANGE_COLOUR,
                label=_("With the change"))  # fmt: skip
    for q in (50, 80, 95):
        ax.axhline(q / 100, color="#888888", linewidth=0.6, linestyle=":")
        ax.annotate(f"P{q}", (0, q / 100), xycoords=("axes fraction", "data"), fontsize=7,
                    xytext=(2, 2), textcoords="offset points", color="#555555")  # fmt: skip
    ax.set_ylabel(_("Probability of finishing by"))
    ax.set_ylim(0, 1.01)
