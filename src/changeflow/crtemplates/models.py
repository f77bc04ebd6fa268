"""Change-request form templates: what a project's CR form asks for one kind of change (a
feature request, a regulatory change, a data fix...), with defaults and custom fields.

Written only by ``crtemplates.services``; read through ``crtemplates.selectors``. A change
request keeps a snapshot of the field definitions it was made with (``ChangeRequest.
field_definitions``), so that editing a template never changes how an existing CR reads.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project
from changeflow.changes.models import ChangeType, Priority, Urgency

NAME_MAX = 100
DESCRIPTION_MAX = 2000
SCAFFOLD_MAX = 20_000


class FieldKind(models.TextChoices):
    TEXT = "text", _("Text")
    LONG_TEXT = "long_text", _("Long text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")
    YES_NO = "yes_no", _("Yes/no")


class CRTemplate(models.Model):
    """One CR form template of a project. ``fields`` is the validated list of custom field
    definitions (``definitions.clean_definitions``); ``version`` grows with every write and is
    the ETag. Never deleted: a template no longer wanted is archived."""

    project = models.ForeignKey(
        Project, verbose_name=_("project"), on_delete=models.PROTECT, related_name="cr_templates"
    )
    name = models.CharField(_("name"), max_length=NAME_MAX)
    description = models.TextField(
        _("description"), blank=True, default="", max_length=DESCRIPTION_MAX,
        help_text=_("What this form is for, shown to whoever chooses it."),
    )  # fmt: skip
    position = models.PositiveIntegerField(_("position"), default=0)
    archived = models.BooleanField(_("archived"), default=False)
    type = models.CharField(_("type"), max_length=16, choices=ChangeType.choices, blank=True)
    priority = models.CharField(_("priority"), max_length=2, choices=Priority.choices, blank=True)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices, blank=True)
    labels = models.JSONField(_("labels"), default=list, blank=True)
    scaffold = models.TextField(
        _("description scaffold"), blank=True, default="", max_length=SCAFFOLD_MAX,
        help_text=_("Markdown the new change request's description starts with, e.g. headings "
                    "to fill in."),
    )  # fmt: skip
    fields = models.JSONField(_("custom fields"), default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="crtemplate_project_name"),
        ]
        indexes = [
            models.Index(fields=["project", "archived", "position"], name="crtemplate_list"),
        ]
        verbose_name = _("change request template")
        verbose_name_plural = _("change request templates")

    def __str__(self) -> str:
        return self.name
