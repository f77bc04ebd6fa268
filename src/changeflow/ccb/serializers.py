"""API shapes of the board (API.md, Change Control Board) and of a CR's decision."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.changes.serializers import VoteSerializer
from changeflow.core.api_views import StrictSerializer

from .models import Rule


def _limit(digits: int) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=digits, decimal_places=2, min_value=0, required=False, allow_null=True
    )


class DelegationSerializer(StrictSerializer):
    max_effort_hours = _limit(10)
    max_cost = _limit(14)
    max_schedule_days = _limit(8)
    max_risk_exposure = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=5, required=False, allow_null=True,
        help_text=_("The largest single risk exposure (probability × impact, 0–5)."),
    )  # fmt: skip


class BoardMemberSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    # Plain strings checked by the service: the roles' enum already has a name in the schema.
    role = serializers.CharField(
        max_length=20, required=False,
        help_text=_("The role the member votes in (any project role but viewer); default: "
                    "their role in the project."),
    )  # fmt: skip
    weight = serializers.DecimalField(
        max_digits=6, decimal_places=2, required=False, default=Decimal(1),
        help_text=_("Greater than 0; counts under the weighted rule."),
    )  # fmt: skip
    active = serializers.BooleanField(
        read_only=True,
        help_text=_("False: no longer an active member of the project; does not vote."),
    )


class BoardSerializer(StrictSerializer):
    """The board as stored, or the default board (``configured`` false)."""

    configured = serializers.BooleanField(
        read_only=True, help_text=_("False: no board is stored and the default board applies.")
    )
    members = BoardMemberSerializer(many=True)
    quorum = serializers.IntegerField(
        min_value=1, required=False, allow_null=True,
        help_text=_("Members who must vote (abstainers count); null: a majority."),
    )  # fmt: skip
    rule = serializers.ChoiceField(choices=Rule.values, required=False, default=Rule.MAJORITY)
    threshold = serializers.DecimalField(
        max_digits=4, decimal_places=3, required=False, allow_null=True,
        help_text=_("Weighted rule: the share of the non-abstaining weight that approves."),
    )  # fmt: skip
    required_roles = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, default=list,
        help_text=_("Roles whose approval an approval needs."),
    )  # fmt: skip
    veto_roles = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, default=list,
        help_text=_("Roles whose reject rejects."),
    )  # fmt: skip
    delegation = DelegationSerializer(required=False)
    chair = serializers.CharField(
        max_length=150, required=False, allow_null=True, allow_blank=True,
        help_text=_("A board member's username."),
    )  # fmt: skip
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    projects = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False,
        help_text=_("Keys of the projects this board serves (this one included); default: "
                    "unchanged."),
    )  # fmt: skip
    ratification_days = serializers.IntegerField(
        min_value=1, max_value=365, required=False, allow_null=True,
        help_text=_("Days to ratify an emergency approval; null: the site's default."),
    )  # fmt: skip


class PolicySerializer(serializers.Serializer):
    rule = serializers.ChoiceField(choices=Rule.values)
    threshold = serializers.CharField(allow_null=True)
    quorum = serializers.IntegerField(
        allow_null=True, help_text=_("As configured; null: a majority.")
    )
    required_roles = serializers.ListField(child=serializers.CharField())
    veto_roles = serializers.ListField(child=serializers.CharField())


class DecisionTallySerializer(serializers.Serializer):
    eligible = serializers.IntegerField()
    quorum = serializers.IntegerField(help_text=_("Votes needed before any verdict."))
    cast = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    weights = serializers.DictField(child=serializers.CharField())
    verdict = serializers.ChoiceField(
        choices=["approve", "reject", "defer"], allow_null=True, help_text=_("None: undecided.")
    )
    vetoed_by = serializers.CharField(allow_null=True)
    required_missing = serializers.ListField(
        child=serializers.CharField(), help_text=_("Required roles without an approval yet.")
    )
    pending = serializers.ListField(
        child=serializers.CharField(), help_text=_("Eligible members who have not voted.")
    )


class StillNeededSerializer(serializers.Serializer):
    votes_to_quorum = serializers.IntegerField()
    required_roles = serializers.ListField(child=serializers.CharField())
    veto_pending = serializers.ListField(
        child=serializers.CharField(), help_text=_("Veto roles whose holders have not voted.")
    )
    pending = serializers.ListField(child=serializers.CharField())


class DecisionSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(
        choices=["decision", "ratification"], allow_null=True,
        help_text=_("What is being voted on now; null when nothing is."),
    )  # fmt: skip
    round = serializers.IntegerField(allow_null=True)
    board_configured = serializers.BooleanField()
    policy = PolicySerializer()
    tally = DecisionTallySerializer()
    verdict = serializers.ChoiceField(
        choices=["approve", "reject", "defer"], allow_null=True,
        help_text=_("The policy's verdict so far (the tally's)."),
    )  # fmt: skip
    eligible_members = serializers.ListField(
        child=serializers.CharField(),
        help_text=_("Who votes: the board as the review started, less members who left."),
    )
    still_needed = StillNeededSerializer()
    votes = VoteSerializer(many=True)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time that must name its time zone (a naive one is a 400)."""

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            raise serializers.ValidationError(
                _("The time zone is missing (e.g. +08:00 or Z)."), code="naive"
            )
        return super().enforce_timezone(value)


class FreezeWindowSerializer(StrictSerializer):
    """A change freeze: inside it only emergency CRs start implementation."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    starts_at = AwareDateTimeField(help_text=_("Inclusive; ISO 8601 with a time zone."))
    ends_at = AwareDateTimeField(
        help_text=_("Exclusive, after starts_at; ISO 8601 with a time zone.")
    )
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class PendingVoteSerializer(serializers.Serializer):
    key = serializers.CharField(source="cr.key")
    title = serializers.CharField(source="cr.title")
    project = serializers.CharField(source="cr.project.key")
    purpose = serializers.CharField(help_text=_("decision or ratification"))
    round = serializers.IntegerField()
    since = serializers.DateTimeField(help_text=_("When the CR entered its current state."))


class UnratifiedSerializer(serializers.Serializer):
    key = serializers.CharField(source="cr.key")
    title = serializers.CharField(source="cr.title")
    state = serializers.CharField(source="cr.state")
    approved_at = serializers.DateTimeField(help_text=_("When it was approved as an emergency."))
    due = serializers.DateTimeField(help_text=_("The board must have ratified it by then."))
    overdue = serializers.BooleanField()


class SupervisionSerializer(serializers.Serializer):
    key = serializers.CharField(source="cr.key")
    title = serializers.CharField(source="cr.title")
    state = serializers.CharField(source="cr.state")
    owner = serializers.CharField(help_text=_("Who owns the implementation."))
    due = serializers.DateField(allow_null=True, help_text=_("The CR's desired date."))
    overdue = serializers.BooleanField()
    ratification = serializers.CharField()
