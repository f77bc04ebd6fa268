"""Process templates: a named process document (``definitions``) saved site-wide, to be applied
to other projects or to start a new one. Written only by ``processes.services``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import Project

NAME_MAX = 100
DESCRIPTION_MAX = 2000


class ProcessTemplate(models.Model):
    """A saved process: board policy, delegation, service levels, review schedule and CR form
    templates, as one validated document. Never names users. ``version`` grows with every
    write and is the ETag. Never deleted: one no longer wanted is archived."""

    name = models.CharField(_("name"), max_length=NAME_MAX, unique=True)
    description = models.TextField(
        _("description"), blank=True, default="", max_length=DESCRIPTION_MAX
    )
    document = models.JSONField(_("process document"), default=dict)
    source_project = models.ForeignKey(
        Project, verbose_name=_("saved from"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    archived = models.BooleanField(_("archived"), default=False)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("process template")
        verbose_name_plural = _("process templates")

    def __str__(self) -> str:
        return self.name
