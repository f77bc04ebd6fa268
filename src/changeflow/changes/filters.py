"""Query parameters of the change-request list, validated as a form.

The FilterSet only parses and validates (a bad value is a 400 naming the parameter) and
documents the parameters in the OpenAPI schema; ``selectors.change_request_list`` applies them.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as df

from changeflow.core.api_views import FlagFilter

from .models import ChangeRequest, ChangeType, Channel, Priority
from .selectors import ORDERINGS
from .workflow import State


class ChangeRequestFilter(df.FilterSet):
    project = df.CharFilter(max_length=10, help_text=_("Project key, e.g. ACME."))
    state = df.MultipleChoiceFilter(choices=State.choices, help_text=_("Repeat for several."))
    type = df.MultipleChoiceFilter(choices=ChangeType.choices)
    priority = df.MultipleChoiceFilter(choices=Priority.choices)
    channel = df.MultipleChoiceFilter(choices=Channel.choices)
    open = FlagFilter(
        help_text=_("true: only CRs not closed, rejected or withdrawn; false: only those.")
    )
    assignee = df.CharFilter(
        max_length=150,
        help_text=_('The assignee\'s username, "me" for your own, or "none" for unassigned.'),
    )
    q = df.CharFilter(
        max_length=200, help_text=_("Full text (Chinese and English): every term must match.")
    )
    created_after = df.DateFilter(help_text=_("Created on or after this day (YYYY-MM-DD)."))
    created_before = df.DateFilter(help_text=_("Created on or before this day (YYYY-MM-DD)."))
    ordering = df.ChoiceFilter(
        choices=[(k, k) for k in ORDERINGS], help_text=_("Default: -created (newest first).")
    )

    class Meta:
        model = ChangeRequest
        fields: list[str] = []


class ChangeRequestExportFilter(ChangeRequestFilter):
    """The list's filters (the project is the path's) and the file's format."""

    format = df.ChoiceFilter(
        choices=[("csv", "csv"), ("xlsx", "xlsx")],
        method="_format",
        help_text=_("csv (default: UTF-8 with BOM) or xlsx."),
    )

    def _format(self, queryset, name, value):  # the file's format: no filter of the rows
        return queryset
