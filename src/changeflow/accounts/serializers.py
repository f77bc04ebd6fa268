"""API shapes of projects, members, tokens and the caller (input and output)."""

from __future__ import annotations

from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from changeflow.core.access import sees_internal
from changeflow.core.api_views import StrictSerializer
from changeflow.processes.serializers import START_PRESET_HELP, START_TEMPLATE_HELP

from .models import Membership, Project, Role, User

KEY_REGEX = r"^[A-Z0-9]{2,10}\Z"
CURRENCY_REGEX = r"^[A-Z]{3}\Z"


def _threshold(max_digits: int) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=max_digits, decimal_places=2, min_value=0, allow_null=True, required=False
    )


# Of a project's settings, those only its team sees.
INTERNAL_FIELDS = ("change_budget", "schedule_contingency_days")


class ProjectSerializer(serializers.ModelSerializer):
    customer = serializers.SerializerMethodField()
    cr_count = serializers.SerializerMethodField(
        help_text=_("Number of change requests (in lists only).")
    )

    class Meta:
        model = Project
        fields = [
            "key", "name", "customer", "description", "currency",
            "delegate_max_effort_hours", "delegate_max_cost", "delegate_max_schedule_days",
            "delegate_max_risk_exposure", "change_budget", "schedule_contingency_days",
            "cr_count", "created_at",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            name: {"help_text": _("Null when not set, and for customer roles.")}
            for name in INTERNAL_FIELDS
        }

    def get_customer(self, obj: Project) -> str:
        return obj.customer.name if obj.customer is not None else ""

    def to_representation(self, instance: Project) -> dict:
        """The money and days set aside for changes are what the process metrics measure the
        approved changes' cost against, which customer roles do not see: they read null here
        too. The serializer's context holds the request; without one they are hidden."""
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not sees_internal(request.user, instance):
            for name in INTERNAL_FIELDS:
                data[name] = None
        return data

    def get_cr_count(self, obj: Project) -> int | None:
        return getattr(obj, "cr_count", None)


class ProjectCreateSerializer(StrictSerializer):
    key = serializers.RegexField(
        KEY_REGEX,
        max_length=10,
        help_text=_("2 to 10 upper-case letters or digits."),
        error_messages={"invalid": _("2 to 10 upper-case letters or digits.")},
    )
    name = serializers.CharField(max_length=200)
    customer = serializers.CharField(
        max_length=200, required=False, allow_blank=True, allow_null=True, default=""
    )
    description = serializers.CharField(
        max_length=100_000, required=False, allow_blank=True, default=""
    )
    process_template = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text=START_TEMPLATE_HELP
    )
    process_preset = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text=START_PRESET_HELP
    )


class ProjectUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    customer = serializers.CharField(
        max_length=200, required=False, allow_blank=True, allow_null=True
    )
    description = serializers.CharField(max_length=100_000, required=False, allow_blank=True)
    currency = serializers.RegexField(
        CURRENCY_REGEX,
        required=False,
        help_text=_("ISO 4217 code, e.g. CNY."),
        error_messages={"invalid": _("An ISO 4217 code such as CNY, USD or EUR.")},
    )
    delegate_max_effort_hours = _threshold(10)
    delegate_max_cost = _threshold(14)
    delegate_max_schedule_days = _threshold(8)
    delegate_max_risk_exposure = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=5, required=False,
        allow_null=True,
        help_text=_("The largest single risk exposure (probability × impact, 0–5) a manager "
                    "may accept alone."),
    )  # fmt: skip
    change_budget = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, allow_null=True, required=False,
        help_text=_("Money set aside for approved changes, in the project's currency."),
    )  # fmt: skip
    schedule_contingency_days = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, allow_null=True, required=False,
        help_text=_("Days of schedule set aside for approved changes."),
    )  # fmt: skip


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    display_name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "display_name", "role", "created_at"]
        read_only_fields = fields


class MemberWriteSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class MyMembershipSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.key", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["project", "project_name", "role"]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    # Not an EmailField in the schema: an account may have no address ("", user_create's default).
    email = serializers.CharField(
        read_only=True, label=capfirst(User._meta.get_field("email").verbose_name)
    )
    is_admin = serializers.BooleanField(source="is_superuser", read_only=True)
    memberships = MyMembershipSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["username", "display_name", "email", "is_admin", "memberships"]
        read_only_fields = fields
