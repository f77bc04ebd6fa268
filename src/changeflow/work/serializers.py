"""The shape of "My work" in the API and the CLI's JSON."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .selectors import TITLES, total


class WorkItemSerializer(serializers.Serializer):
    key = serializers.CharField(
        help_text=_("The CR's, change order's or improvement action's key (a meeting action "
                    "item: its CR's key, or empty).")
    )  # fmt: skip
    title = serializers.CharField()
    project = serializers.CharField(help_text=_("The project's key."))
    project_name = serializers.CharField()
    url = serializers.CharField(help_text=_("The page where the work is done (a path)."))
    state = serializers.CharField(help_text=_("The item's state in its own app."))
    detail = serializers.CharField(help_text=_("What is asked, in a few words."))
    due = serializers.DateField(allow_null=True)
    due_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When the due date is a service level's: its deadline.")
    )
    overdue = serializers.BooleanField()


def _items(help_text) -> WorkItemSerializer:
    return WorkItemSerializer(many=True, help_text=help_text)


class CountsSerializer(serializers.Serializer):
    """How many items each section holds (its list gives the first 50)."""

    assigned = serializers.IntegerField()
    votes = serializers.IntegerField()
    estimates = serializers.IntegerField()
    signatures = serializers.IntegerField()
    meeting_actions = serializers.IntegerField()
    improvements = serializers.IntegerField()
    triage = serializers.IntegerField()
    questions = serializers.IntegerField()
    requests = serializers.IntegerField()


class MyWorkSerializer(serializers.Serializer):
    """Every section, always present (an empty list when nothing waits), in page order: the
    first 50 items of each, soonest due first; ``counts`` says how many each holds."""

    total = serializers.IntegerField(
        help_text=_(
            "How many items wait on you, as the top bar counts them: every section but "
            "requests (your own open requests wait on the team)."
        )
    )
    counts = CountsSerializer()
    assigned = _items(TITLES["assigned"])
    votes = _items(TITLES["votes"])
    estimates = _items(TITLES["estimates"])
    signatures = _items(TITLES["signatures"])
    meeting_actions = _items(TITLES["meeting_actions"])
    improvements = _items(TITLES["improvements"])
    triage = _items(TITLES["triage"])
    questions = _items(TITLES["questions"])
    requests = _items(TITLES["requests"])


def as_data(sections) -> dict:
    """The sections as the API and ``changeflow my-work --json`` give them."""
    body = {
        "total": total(sections),
        "counts": {s.id: s.count for s in sections},
        **{s.id: s.items for s in sections},
    }
    return MyWorkSerializer(body).data
