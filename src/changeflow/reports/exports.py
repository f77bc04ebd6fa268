"""The metrics as the page shows them, and as files: standalone HTML and PDF.

The page, the HTML file and the PDF read the same ``page_context``, so they say the same. The
PDF uses ReportLab with the meetings' CJK font and styles (``meetings.exports``); its charts
are the page's, as PNG.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from typing import Any

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project
from changeflow.changes.models import ChangeType, Channel, Priority
from changeflow.changes.workflow import State
from changeflow.impact.models import CalibrationSource, Dimension

from . import charts
from .metrics import Period


def _label(choices, value: str) -> str:
    if not value:
        return _("(not set)")
    return str(choices(value).label) if value in choices.values else value


def _rows(counts: dict[str, int], choices=None) -> list[tuple[str, int]]:
    if choices is None:
        return [(k or _("(not set)"), n) for k, n in counts.items()]
    return [(_label(choices, k), n) for k, n in counts.items()]


def page_context(data: dict[str, Any]) -> dict[str, Any]:
    """The figures with their codes named in the reader's language."""
    submitted = data["submitted"]
    labels = {
        "stages": [(_label(State, s), v) for s, v in data["cycle_time"]["stages"].items()],
        "sla_by_stage": _rows(data["sla_breaches"]["by_stage"], State),
        "estimation": [
            {**row, "method_label": _label(CalibrationSource, row["method"]),
             "dimension_label": _label(Dimension, row["dimension"])}
            for row in data["estimation"] or []
        ],
    }  # fmt: skip
    volume = [
        (_("By type"), _rows(submitted["by_type"], ChangeType)),
        (_("By channel"), _rows(submitted["by_channel"], Channel)),
        (_("By priority"), _rows(submitted["by_priority"], Priority)),
        (_("By customer"), _rows(submitted["by_customer"])),
    ]
    return {"data": data, "labels": labels, "volume": volume}


def _title(project: Project, data: dict[str, Any]) -> str:
    return _("Process metrics of %(project)s, %(start)s to %(end)s") % {
        "project": project.key, "start": data["from"], "end": data["to"],
    }  # fmt: skip


def metrics_html(project: Project, data: dict[str, Any]) -> bytes:
    """A standalone HTML file: the page's figures, its style sheet and its charts inline."""
    context = {
        "project": project, "title": _title(project, data), "css": _stylesheet(),
        "inline_charts": _inline_charts(data),
        "generated_at": timezone.localtime().strftime("%Y-%m-%d %H:%M %Z"),
        **page_context(data),
    }  # fmt: skip
    return render_to_string("reports/metrics_export.html", context).encode("utf-8")


def metrics_pdf(project: Project, data: dict[str, Any]) -> bytes:
    from changeflow.meetings.exports import _p, _pdf_styles, pdf_document

    st = _pdf_styles()
    out = io.BytesIO()
    title = _title(project, data)
    doc, grid = pdf_document(out, title)
    story: list[Any] = [_p(title, st["title"]), *metrics_story(data, doc, grid)]
    doc.build([*story, *_generated_line()])
    return out.getvalue()


def _generated_line() -> list[Any]:
    from reportlab.platypus import Spacer

    from changeflow.meetings.exports import _p, _pdf_styles

    generated = timezone.localtime().strftime("%Y-%m-%d %H:%M %Z")
    return [Spacer(1, 8), _p(_("Generated at %s") % generated, _pdf_styles()["small"])]


def pdf_table(doc, grid, head: list[Any], rows: list[list[Any]], widths: list[float]):
    """A grid table of the exports' small style, its head repeated on each page."""
    from reportlab.platypus import Table

    from changeflow.meetings.exports import _p, _pdf_styles

    st = _pdf_styles()
    cells = [[_p(str(h), st["small"]) for h in head]]
    cells += [[_p("—" if v is None else str(v), st["small"]) for v in row] for row in rows]
    return Table(cells, colWidths=[doc.width * w for w in widths], style=grid, repeatRows=1)


def metrics_story(data: dict[str, Any], doc, grid) -> list[Any]:
    """The PDF flowables of the metrics (charts and tables), without the title."""
    from reportlab.platypus import Image

    from changeflow.meetings.exports import _p, _pdf_styles

    st = _pdf_styles()
    ctx = page_context(data)

    def table(head: list[str], rows: list[list[Any]], widths: list[float]):
        return pdf_table(doc, grid, head, rows, widths)

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.0f} %"

    story: list[Any] = []
    for kind in charts.KINDS:
        png = charts.render(data, kind=kind, fmt="png")
        story.append(Image(io.BytesIO(png), width=doc.width, height=doc.width * 0.48))
    story.append(_p(_("Volume submitted"), st["h2"]))
    for head, rows in ctx["volume"]:
        story += [_p(str(head), st["h3"]), table([_("Value"), _("Change requests")],
                                                 [list(r) for r in rows], [0.7, 0.3])]  # fmt: skip
    d = data["decisions"]
    story += [
        _p(_("Decisions"), st["h2"]),
        table(
            [_("Approved"), _("Rejected"), _("Deferred"), _("Withdrawn"), _("Approval rate"),
             _("Rejection rate")],
            [[d["approved"], d["rejected"], d["deferred"], d["withdrawn"],
              pct(d["approval_rate"]), pct(d["rejection_rate"])]],
            [1 / 6] * 6,
        ),
    ]  # fmt: skip
    cycle = data["cycle_time"]
    rows = [[label, v["n"], v["median"], v["p85"]] for label, v in ctx["labels"]["stages"]]
    for label, key in (
        (_("Lead time, submitted to closed"), "lead_time"),
        (_("CCB decision latency, in review to decision"), "decision_latency"),
    ):
        v = cycle[key]
        rows.append([label, v["n"], v["median"], v["p85"]])  # fmt: skip
    story += [
        _p(_("Cycle time per stage (hours)"), st["h2"]),
        table([_("Stage"), _("Stays"), _("Median"), _("85th percentile")], rows,
              [0.46, 0.18, 0.18, 0.18]),
    ]  # fmt: skip
    sla = data["sla_breaches"]
    sla_rows = [list(r) for r in ctx["labels"]["sla_by_stage"]] + [[_("Total"), sla["total"]]]
    story += [
        _p(_("SLA breaches"), st["h2"]),
        table([_("Stage"), _("Change requests")], sla_rows, [0.7, 0.3]),
    ]
    v = data["volatility"]
    story += [
        _p(_("Requirement volatility"), st["h2"]),
        table([_("Requirements at the start"), _("Added"), _("Changed"), _("Removed"),
               _("Volatility")],
              [[v["requirements_at_start"], v["added"], v["changed"], v["removed"],
                pct(v["volatility"])]], [0.2] * 5),
    ]  # fmt: skip
    cost = data["cost"]
    if cost is not None:
        rows = []
        for label, key in (
            (_("Approved in the period (assessed)"), "approved_in_period"),
            (_("Approved up to the end (assessed)"), "approved_cumulative"),
            (_("Actuals of CRs closed in the period"), "actuals_in_period"),
            (_("Actuals of CRs closed up to the end"), "actuals_cumulative"),
        ):
            c = cost[key]
            rows.append([label, c["change_requests"], c["cost"], c["schedule_days"]])  # fmt: skip
        rows.append([_("Budget and contingency"), "", cost["budget"],
                     cost["schedule_contingency_days"]])  # fmt: skip
        rows.append([_("Share used"), "", pct(cost["budget_used_share"]),
                     pct(cost["contingency_used_share"])])  # fmt: skip
        story += [
            _p(_("Cost and schedule of approved change"), st["h2"]),
            table([data["currency"], _("Change requests"), _("Cost"), _("Schedule (days)")],
                  rows, [0.4, 0.2, 0.2, 0.2]),
        ]  # fmt: skip
    if data["estimation"] is not None:
        rows = [[r["method_label"], r["dimension_label"], r["n"], f"{r['mmre']:.2f}",
                 pct(r["pred25"]), f"{r['bias_percent']:.1f} %"]
                for r in ctx["labels"]["estimation"]]  # fmt: skip
        story += [
            _p(_("Estimation accuracy"), st["h2"]),
            table([_("Method"), _("Dimension"), _("Closed changes"), "MMRE", "PRED(25)",
                   _("Bias")], rows, [0.24, 0.2, 0.14, 0.14, 0.14, 0.14]),
        ]  # fmt: skip
    return story


# ------------------------------------------------------------------ review reports


def review_title(project: Project, kind: str, period) -> str:
    from .models import ReportKind

    last = period.end - dt.timedelta(days=1)
    return _("%(kind)s review of %(project)s, %(start)s to %(last)s") % {
        "kind": ReportKind(kind).label, "project": project.key, "start": period.start,
        "last": last,
    }  # fmt: skip


def _status_label(value: str) -> str:
    from .models import ActionStatus

    return str(ActionStatus(value).label) if value in ActionStatus.values else value


def review_context(context: dict[str, Any]) -> dict[str, Any]:
    """What the review report's HTML and PDF show: the summary, the metrics' page context and
    the improvement actions with their statuses named."""
    figures = context["figures"]
    actions = figures["improvement_actions"]
    named = {
        part: [{**row, "status_label": _status_label(row["status"])} for row in actions[part]]
        for part in ("open_at_end", "done_in_period")
    }
    generated_by = context.get("generated_by")
    return {
        **context,
        **page_context(figures),
        "title": review_title(context["project"], context["kind"], context["period"]),
        "actions": named,
        "action_parts": [
            (_("Improvement actions open at the end of the period"), named["open_at_end"]),
            (_("Improvement actions done in the period"), named["done_in_period"]),
        ],
        "generated_at": context.get("generated_at")
        or timezone.localtime().strftime("%Y-%m-%d %H:%M %Z"),
        "generator": (generated_by.display_name or generated_by.username)
        if generated_by
        else _("the review schedule"),
    }


def review_html(context: dict[str, Any]) -> bytes:
    """The review report as one standalone HTML file (style sheet and SVG charts inline)."""
    ctx = {
        **review_context(context), "css": _stylesheet(),
        "inline_charts": _inline_charts(context["figures"]),
    }  # fmt: skip
    return render_to_string("reports/review_export.html", ctx).encode("utf-8")


def _unique_ids(svg: str, prefix: str) -> str:
    """``svg`` with its ids (and the references to them) prefixed: matplotlib names the glyphs,
    paths and clips of every chart alike, and two charts inline in one page must not share
    an id."""
    svg = svg.replace(' id="', f' id="{prefix}')
    return svg.replace('href="#', f'href="#{prefix}').replace("url(#", f"url(#{prefix}")


def _stylesheet() -> str:
    """The site's style sheet, for a standalone HTML file."""
    path = finders.find("css/app.css")
    if not path:
        return ""
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _inline_charts(figures: dict[str, Any]) -> list[str]:
    """The charts of ``figures`` as SVG elements for a standalone HTML file, ids unique."""
    return [
        _unique_ids(
            charts.render(figures, kind=kind, fmt="svg").decode("utf-8").split("?>", 1)[-1],
            f"{kind}-",
        )
        for kind in charts.KINDS
    ]


def chart_images(figures: dict[str, Any]) -> dict[str, str]:
    """The charts of ``figures`` as ``data:`` URIs, each for an ``<img>`` of a page: an SVG put
    in the page itself draws with style attributes, which the pages' Content Security Policy
    refuses (the charts showed as black boxes); in an image they are the image's own."""
    return {
        kind: "data:image/svg+xml;base64,"
        + base64.b64encode(charts.render(figures, kind=kind, fmt="svg")).decode("ascii")
        for kind in charts.KINDS
    }


def review_page_body(report) -> str:
    """The body of ``report`` for its page, rendered from its stored figures in the active
    language, its charts as images (``chart_images``); the files stay as they were made."""
    context = {
        "project": report.project, "kind": report.kind,
        "period": Period(report.period_start, report.period_end),
        "generated_by": report.generated_by, "figures": report.figures,
        "summary": report.summary,
        "generated_at": timezone.localtime(report.generated_at).strftime("%Y-%m-%d %H:%M %Z"),
    }  # fmt: skip
    ctx = {**review_context(context), "chart_images": chart_images(context["figures"])}
    return render_to_string("reports/_review_body.html", ctx)


def review_pdf(context: dict[str, Any]) -> bytes:
    """The review report as PDF: the summary, the metrics' charts and tables, the improvement
    actions."""
    from reportlab.platypus import Spacer

    from changeflow.meetings.exports import _p, _pdf_styles, pdf_document

    st = _pdf_styles()
    ctx = review_context(context)
    out = io.BytesIO()
    doc, grid = pdf_document(out, ctx["title"])
    s = ctx["summary"]
    story: list[Any] = [
        _p(ctx["title"], st["title"]),
        _p(_("Summary"), st["h2"]),
        pdf_table(
            doc, grid,
            [_("Submitted"), _("Decided"), _("SLA breaches"), _("Open improvement actions"),
             _("Overdue improvement actions"), _("Improvement actions done")],
            [[s["submitted"], s["decided"], s["sla_breaches"], s["actions_open"],
              s["actions_overdue"], s["actions_done"]]],
            [1 / 6] * 6,
        ),
        Spacer(1, 6),
        *metrics_story(ctx["figures"], doc, grid),
    ]  # fmt: skip
    head = [_("Key"), _("Title"), _("Owner"), _("Due date"), _("Status")]
    for label, part in ctx["action_parts"]:
        rows = [[r["key"], r["title"], r["owner"], r["due_date"], r["status_label"]]
                for r in part]  # fmt: skip
        story.append(_p(label, st["h2"]))
        if rows:
            story.append(pdf_table(doc, grid, head, rows, [0.14, 0.42, 0.16, 0.14, 0.14]))
        else:
            story.append(_p(_("None."), st["small"]))
    signed = _("Generated at %(at)s by %(by)s") % {
        "at": ctx["generated_at"], "by": ctx["generator"],
    }  # fmt: skip
    story += [Spacer(1, 8), _p(signed, st["small"])]
    doc.build(story)
    return out.getvalue()
