"""The change order's document: a standalone HTML file and a PDF (ReportLab with the meetings'
CJK font, so that Chinese and English text both render), rendered once at issue from the order's
terms and the ``content`` snapshot; and the signature certificate of a signed order, rendered
on request from the recorded signature (it never alters the issued files).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _


def title_of(order) -> str:
    return _("Change order %(key)s, revision %(rev)s") % {"key": order.key, "rev": order.revision}


def _when(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else ""


def facts(order, content: dict[str, Any], issued_at: dt.datetime | None) -> list[tuple[str, str]]:
    """The document's terms, label and value, in the active language."""
    cr = content.get("cr", {})
    return [
        (_("Project"), f"{content.get('project', {}).get('key', '')} "
                       f"{content.get('project', {}).get('name', '')}".strip()),
        (_("Change request"), f"{cr.get('key', '')} {cr.get('title', '')}".strip()),
        (_("Price"), f"{order.amount:,.2f} {order.currency}"),
        (_("Schedule delta (days)"), str(order.schedule_delta_days)),
        (_("Valid until"), order.valid_until.isoformat() if order.valid_until else "—"),
        (_("Issued at"), _when(issued_at)),
        (_("Issued by"), str(content.get("issued_by", ""))),
    ]  # fmt: skip


def context_of(order, content: dict[str, Any], issued_at: dt.datetime | None) -> dict[str, Any]:
    return {
        "title": title_of(order),
        "facts": facts(order, content, issued_at),
        "order": order,
        "cr": content.get("cr", {}),
        "affected": content.get("affected", []),
    }


def render(order, content: dict[str, Any], *, issued_at: dt.datetime) -> dict[str, bytes]:
    """The HTML and the PDF of ``order`` in the active language."""
    from changeflow.reports.exports import _stylesheet

    ctx = context_of(order, content, issued_at)
    html = render_to_string("orders/order_export.html", {**ctx, "css": _stylesheet()})
    return {"html": html.encode("utf-8"), "pdf": _pdf(ctx)}


def _pdf(ctx: dict[str, Any]) -> bytes:
    from reportlab.platypus import Spacer

    from changeflow.meetings.exports import _p, _pdf_styles, pdf_document
    from changeflow.reports.exports import pdf_table

    st = _pdf_styles()
    out = io.BytesIO()
    doc, grid = pdf_document(out, ctx["title"])
    order = ctx["order"]
    story: list[Any] = [
        _p(ctx["title"], st["title"]),
        pdf_table(doc, grid, [_("Term"), _("Value")], [list(f) for f in ctx["facts"]],
                  [0.3, 0.7]),
        _p(_("Change requested"), st["h2"]),
        _p(ctx["cr"].get("description", ""), st["body"]),
        _p(_("Scope"), st["h2"]),
        _p(order.scope or "—", st["body"]),
    ]  # fmt: skip
    if ctx["affected"]:
        story += [
            _p(_("Affected requirements"), st["h2"]),
            pdf_table(doc, grid, [_("Key"), _("Title")],
                      [[a["key"], a["title"]] for a in ctx["affected"]], [0.25, 0.75]),
        ]  # fmt: skip
    story += [
        _p(_("Payment terms and notes"), st["h2"]),
        _p(order.payment_terms or "—", st["body"]),
        Spacer(1, 14),
        _p(_("Signed electronically in changeflow by the customer's representative; the "
             "signature certificate records the SHA-256 of this file."), st["small"]),
    ]  # fmt: skip
    doc.build(story)
    return out.getvalue()


def signature_rows(order) -> list[tuple[str, str]]:
    return [
        (
            _("Signed by"),
            f"{order.signer_name} ({order.signed_by.username if order.signed_by else ''})",
        ),
        (_("Signed at"), _when(order.signed_at)),
        (_("From address"), order.signature_ip or "—"),
        (_("Statement"), order.signature_statement),
        (_("SHA-256 of the PDF signed"), order.signed_pdf_sha256),
    ]


def certificate_pdf(order) -> bytes:
    """The signature certificate of a signed order: what was signed, by whom, when, from where,
    and the SHA-256 of the issued PDF — rendered from the recorded signature."""
    from changeflow.meetings.exports import _p, _pdf_styles, pdf_document
    from changeflow.reports.exports import pdf_table

    st = _pdf_styles()
    out = io.BytesIO()
    title = _("Signature certificate of %(order)s") % {"order": title_of(order)}
    doc, grid = pdf_document(out, title)
    story: list[Any] = [
        _p(title, st["title"]),
        pdf_table(doc, grid, [_("Term"), _("Value")], [list(r) for r in signature_rows(order)],
                  [0.3, 0.7]),
    ]  # fmt: skip
    doc.build(story)
    return out.getvalue()
