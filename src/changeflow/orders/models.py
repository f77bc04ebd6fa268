"""Change orders (PRODUCT §6, §11): the document a customer signs before a billable change is
implemented — scope, price, schedule delta — numbered per project (``ACME-CO1``), revised
rather than edited once issued.

Written only by ``orders.services``; read through ``orders.selectors``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from changeflow.accounts.models import Project

TEXT_MAX = 100_000


class OrderState(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("change order", "Draft")
    ISSUED = "issued", _("Issued")
    SIGNED = "signed", _("Signed")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", pgettext_lazy("change order", "Withdrawn")
    SUPERSEDED = "superseded", _("Superseded")


_BADGES: dict[str, str] = {
    OrderState.DRAFT: "state-draft",
    OrderState.ISSUED: "state-in_review",
    OrderState.SIGNED: "state-closed",
    OrderState.DECLINED: "state-rejected",
    OrderState.WITHDRAWN: "state-withdrawn",
    OrderState.SUPERSEDED: "state-deferred",
}


class ChangeOrder(models.Model):
    """One revision of a change order. ``(project, number)`` is the order (``key``), each
    revision a row; at most one revision of an order is not superseded.

    A draft is edited compare-and-set (``version``). Issuing renders the document once (HTML and
    PDF, stored with their SHA-256) and freezes the row's terms: an issued revision never
    changes again except for its state and its signature or decline. ``content`` is what the
    document was rendered from (the CR's title, description and affected requirements then)."""

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.PROTECT,
        related_name="change_orders",
    )  # fmt: skip
    change_request = models.ForeignKey(
        "changes.ChangeRequest", verbose_name=_("change request"), on_delete=models.PROTECT,
        related_name="change_orders",
    )  # fmt: skip
    number = models.PositiveIntegerField()
    revision = models.PositiveSmallIntegerField(_("revision"), default=1)
    key = models.CharField(max_length=32)
    state = models.CharField(
        _("state"), max_length=12, choices=OrderState.choices, default=OrderState.DRAFT
    )
    scope = models.TextField(
        _("scope statement"), blank=True, default="", max_length=TEXT_MAX,
        help_text=_("What is delivered for the price, in the customer's words if possible."),
    )  # fmt: skip
    amount = models.DecimalField(_("price"), max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    schedule_delta_days = models.IntegerField(_("schedule delta (days)"), default=0)
    payment_terms = models.TextField(
        _("payment terms and notes"), blank=True, default="", max_length=TEXT_MAX
    )
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Issue: the document as rendered, once.
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("issued by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    language = models.CharField(max_length=10, blank=True, default="")
    content = models.JSONField(default=dict, blank=True)
    html_file = models.FileField(max_length=200, blank=True, default="")
    html_sha256 = models.CharField(max_length=64, blank=True, default="")
    pdf_file = models.FileField(max_length=200, blank=True, default="")
    pdf_sha256 = models.CharField(max_length=64, blank=True, default="")
    # Signature (customer roles, password re-entered) or decline.
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("signed by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    signer_name = models.CharField(_("signer's name"), max_length=200, blank=True, default="")
    signature_ip = models.GenericIPAddressField(null=True, blank=True)
    signature_statement = models.TextField(blank=True, default="")
    signed_pdf_sha256 = models.CharField(max_length=64, blank=True, default="")
    declined_at = models.DateTimeField(_("declined at"), null=True, blank=True)
    declined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    decline_reason = models.TextField(_("reason"), blank=True, default="", max_length=TEXT_MAX)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["-number", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "number", "revision"], name="change_order_revision"
            ),
            # One live revision per order: the others are superseded.
            models.UniqueConstraint(
                fields=["project", "number"],
                condition=~Q(state="superseded"),
                name="change_order_live",
            ),  # fmt: skip
        ]
        indexes = [
            models.Index(fields=["change_request", "state"], name="change_order_cr"),
        ]
        verbose_name = _("change order")
        verbose_name_plural = _("change orders")

    def __str__(self) -> str:
        return f"{self.key} r{self.revision}"

    @property
    def badge(self) -> str:
        """The CSS class of its state's badge (the CR states' colours)."""
        return _BADGES.get(self.state, "state-draft")

    @property
    def label(self) -> str:
        return f"{self.key} rev. {self.revision}"
